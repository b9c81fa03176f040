"""The limiter actor shares rate, cool-down and budget between clients (as between actors and nodes)."""
import asyncio
import time
import uuid

import pytest

from operators.llm.limiter import LimiterClient, limiter_handle

pytestmark = pytest.mark.usefixtures("ray_session")


def test_rate_cooldown_and_budget_are_shared():
    name = f"test-limiter-{uuid.uuid4().hex}"
    schedule = {"rpm": 120, "burst_s": 0.01, "max_requests": 6}

    async def scenario():
        a = LimiterClient(schedule, limiter_handle(name, schedule), name)
        b = LimiterClient(schedule, limiter_handle(name, schedule), name)  # found by name, not a new one
        started = time.monotonic()
        assert await asyncio.gather(a.acquire(1, 0.0), b.acquire(1, 0.0), a.acquire(1, 0.0), b.acquire(1, 0.0))
        assert time.monotonic() - started >= 1.4  # 4 requests at 2/s between two clients
        a.cooldown(2.0)  # a got a 429 with Retry-After: 2
        await a.flush()
        started = time.monotonic()
        assert await b.acquire(1, 0.0)
        assert time.monotonic() - started >= 1.5
        assert await a.acquire(1, 0.0)
        assert await b.acquire(1, 0.0) is False  # the 7th request is over max_requests
        return await a.totals()

    totals = asyncio.run(scenario())
    assert totals["requests"] == 6 and totals["denied"] == 1


def test_unlimited_clients_learn_a_cooldown_by_polling():
    name = f"test-limiter-{uuid.uuid4().hex}"

    async def scenario():
        a = LimiterClient({}, limiter_handle(name, {}), name)
        b = LimiterClient({}, limiter_handle(name, {}), name)
        await b.acquire(1, 0.0)  # b has a request in flight (not settled): it keeps polling
        cooled = time.monotonic()  # the shared cool-down ends no earlier than 3 s after this
        a.cooldown(3.0)
        await a.flush()
        await asyncio.sleep(1.0)  # b polls twice a second
        await b.acquire(1, 0.0)
        since_cooldown = time.monotonic() - cooled
        await a.close(), await b.close()
        return since_cooldown

    assert asyncio.run(scenario()) >= 3.0
