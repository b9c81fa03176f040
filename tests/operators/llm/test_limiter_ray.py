"""The limiter actor shares rate, cool-down and budget between clients (as between actors and nodes).

The clients' waits are recorded, not slept: the assertions are on what the shared limiter decided
(slots 30 s apart, a 600 s cool-down), never on elapsed time. The margins are far larger than any
delay between the clients' calls to the actor.
"""
import asyncio
import time
import uuid

import pytest

from operators.llm.limiter import LimiterClient, limiter_handle

pytestmark = pytest.mark.usefixtures("ray_session")


class RecordedWaits:
    def __init__(self):
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def clients(schedule: dict, count: int = 2) -> tuple[list[LimiterClient], list[RecordedWaits]]:
    name = f"test-limiter-{uuid.uuid4().hex}"
    waits = [RecordedWaits() for _ in range(count)]
    # the second is found by name: the same actor, not a new one
    return [LimiterClient(schedule, limiter_handle(name, schedule), name, sleep=w) for w in waits], waits


def test_rate_cooldown_and_budget_are_shared():
    (a, b), (waits_a, waits_b) = clients({"rpm": 2, "burst_s": 0.01, "max_requests": 6})

    async def scenario():
        assert await asyncio.gather(a.acquire(1, 0.0), b.acquire(1, 0.0), a.acquire(1, 0.0), b.acquire(1, 0.0))
        slots = sorted([0.0] * (4 - len(waits_a.waits + waits_b.waits)) + waits_a.waits + waits_b.waits)
        a.cooldown(600.0)  # a got a 429 with Retry-After: 600 (b's next rate slot is only 120 s away)
        await a.flush()
        waits_b.waits.clear()
        assert await b.acquire(1, 0.0)
        b_cooldown = max(waits_b.waits)
        assert await a.acquire(1, 0.0)
        assert await b.acquire(1, 0.0) is False  # the 7th request is over max_requests
        return slots, b_cooldown, await a.totals()

    slots, b_cooldown, totals = asyncio.run(scenario())
    # 4 requests at one per 30 s between two clients: one now, the others 30, 60 and 90 s later
    assert [round(s / 30) for s in slots] == [0, 1, 2, 3], slots
    assert b_cooldown > 500, b_cooldown  # b waits out a's cool-down
    assert totals["requests"] == 6 and totals["denied"] == 1


def test_unlimited_clients_learn_a_cooldown_by_polling():
    (a, b), (_, waits_b) = clients({})

    async def scenario():
        await b.acquire(1, 0.0)  # b has a request in flight (not settled): it keeps polling
        a.cooldown(120.0)
        await a.flush()
        deadline = time.monotonic() + 60
        while b._cooldown_until < time.monotonic() + 60 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # b polls twice a second
        await b.acquire(1, 0.0)
        await a.close(), await b.close()

    asyncio.run(scenario())
    assert waits_b.waits and max(waits_b.waits) > 60, waits_b.waits  # b waited out a's cool-down
