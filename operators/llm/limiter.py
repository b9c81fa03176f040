"""Cluster-wide request/token rate limits, 429 cool-down and the run's budget.

`Schedule` is the arithmetic: a GCRA (virtual scheduling) per limit. Each reservation gets a send time
no earlier than the previous one plus 60/rpm seconds (and tokens x 60/tpm), with `burst_s` seconds of
rate allowed at once, and never before a 429 cool-down ends. It also counts requests and committed
cost against `max_requests` / `max_cost_usd` and refuses reservations past them.

`LimiterActor` holds one `Schedule` for every actor of every node (a named, detached Ray actor that
exits when idle); `LimiterClient` is the per-process side: waiting requests are batched into one call
to the actor, each then sleeps until its slot.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

log = logging.getLogger(__name__)


@dataclass
class Reservation:
    tokens: int
    cost_usd: float


class Schedule:
    def __init__(self, rpm: Optional[float] = None, tpm: Optional[float] = None, burst_s: float = 1.0,
                 max_requests: Optional[int] = None, max_cost_usd: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.req_interval = 60.0 / rpm if rpm else 0.0
        self.tok_interval = 60.0 / tpm if tpm else 0.0
        self.burst_s = burst_s
        self.max_requests, self.max_cost_usd = max_requests, max_cost_usd
        now = clock()
        self.req_tat = self.tok_tat = now
        self.cooldown_until = now
        self.requests = 0
        self.settled = 0  # attempts that ended (answered or not): requests - settled are in flight
        self.committed_usd = 0.0  # reserved for in-flight requests + spent
        self.spent_usd = 0.0
        self.tokens = 0
        self.denied = 0

    def reserve(self, items: list[Reservation]) -> list[Optional[float]]:
        """Delay in seconds before each request may be sent; None: over the budget, do not send."""
        out: list[Optional[float]] = []
        for item in items:
            if self._over_budget(item.cost_usd):
                self.denied += 1
                out.append(None)
                continue
            now = self.clock()
            send = max(now, self.cooldown_until)
            if self.req_interval:
                send = max(send, self.req_tat - self.burst_s)
                self.req_tat = max(self.req_tat, send) + self.req_interval
            if self.tok_interval:
                send = max(send, self.tok_tat - self.burst_s)
                self.tok_tat = max(self.tok_tat, send) + item.tokens * self.tok_interval
            self.requests += 1
            self.committed_usd += item.cost_usd
            out.append(send - now)
        return out

    def settle(self, token_delta: int, reserved_usd: float, spent_usd: float, tokens_used: int,
               attempts: int = 0, unreserved: int = 0) -> None:
        """Correct reservations with what was really used (negative deltas refund); count the
        `attempts` that ended and the `unreserved` ones that started without a reservation (clients
        with no rate limit or budget reserve nothing)."""
        self.settled += attempts
        self.requests += unreserved
        if self.tok_interval and token_delta:
            self.tok_tat = max(self.tok_tat + token_delta * self.tok_interval, self.clock() - self.burst_s)
        self.committed_usd += spent_usd - reserved_usd
        self.spent_usd += spent_usd
        self.tokens += tokens_used

    def cooldown(self, seconds: float) -> float:
        self.cooldown_until = max(self.cooldown_until, self.clock() + seconds)
        return self.cooldown_until

    def cooldown_left(self) -> float:
        return max(0.0, self.cooldown_until - self.clock())

    def exhausted(self) -> bool:
        return self._over_budget(0.0, strict=True)

    def _over_budget(self, cost: float, strict: bool = False) -> bool:
        if self.max_requests is not None and self.requests >= self.max_requests:
            return True
        if self.max_cost_usd is not None:
            return self.committed_usd + cost > self.max_cost_usd or (strict and self.committed_usd >= self.max_cost_usd)
        return False

    def totals(self) -> dict[str, Any]:
        return {"requests": self.requests, "tokens": self.tokens, "spent_usd": round(self.spent_usd, 6),
                "denied": self.denied, "in_flight": max(0, self.requests - self.settled)}


class LimiterActor:
    """Remote wrapper of `Schedule` (async actor: every call runs on one loop, no locks needed)."""

    def __init__(self, idle_exit_s: float = 120.0, **schedule: Any):
        self.schedule = Schedule(**schedule)
        self.idle_exit_s = idle_exit_s
        self.last_call = time.monotonic()
        self._watchdog: Optional[asyncio.Task] = None

    async def call(self, items: list[tuple[int, float]], settle: tuple[int, float, float, int],
                   cooldown_s: float) -> tuple[list[Optional[float]], float]:
        self._touch()
        if any(settle):
            self.schedule.settle(*settle)
        if cooldown_s > 0:
            self.schedule.cooldown(cooldown_s)
        delays = self.schedule.reserve([Reservation(t, c) for t, c in items])
        return delays, self.schedule.cooldown_left()

    async def totals(self) -> dict[str, Any]:
        self._touch()
        return self.schedule.totals()

    def _touch(self) -> None:
        self.last_call = time.monotonic()
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._exit_when_idle())

    async def _exit_when_idle(self) -> None:
        """Detached, so it outlives a killed driver; it goes away by itself (clients re-create it)."""
        import os
        import ray
        while time.monotonic() - self.last_call < self.idle_exit_s:
            await asyncio.sleep(min(10.0, self.idle_exit_s))
        try:  # an intended exit: os._exit alone makes Ray log a worker crash
            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
            await asyncio.sleep(10)
        finally:
            os._exit(0)


def limiter_handle(name: str, schedule: dict[str, Any]):
    """The run's limiter actor (created by the first caller, found by the others); None without Ray."""
    import ray
    if not ray.is_initialized():
        return None
    remote = ray.remote(num_cpus=0, max_restarts=0)(LimiterActor)
    return remote.options(name=name, namespace="instructpipe", lifetime="detached",
                          get_if_exists=True).remote(**schedule)


class LimiterClient:
    """Per-process side of the limiter; use from one event loop. `handle=None`: a process-local schedule."""

    def __init__(self, schedule: dict[str, Any], handle: Any = None, name: Optional[str] = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self._sleep = sleep  # every wait the limiter imposes goes through it (tests record them)
        self.local = Schedule(**schedule) if handle is None else None
        self.handle, self.name, self.schedule_args = handle, name, schedule
        self._queue: list[tuple[int, float, asyncio.Future]] = []
        self._settle = [0, 0.0, 0.0, 0, 0, 0]  # Schedule.settle's arguments, summed until sent
        self._cooldown_report = 0.0
        self._cooldown_until = 0.0
        self._pump: Optional[asyncio.Task] = None
        # Without rate limits or a budget there is nothing to reserve: requests only wait for a
        # cool-down, which a background poll learns from the shared actor twice a second.
        self.unlimited = not any(schedule.get(k) is not None for k in ("rpm", "tpm", "max_requests", "max_cost_usd"))
        self._poller: Optional[asyncio.Task] = None
        self._last_acquire = 0.0
        self._active = 0  # unlimited mode: attempts sent and not yet settled

    async def acquire(self, tokens: int, cost_usd: float) -> bool:
        """Wait for a send slot; False when the budget is exhausted (the request must not be sent)."""
        left = self._cooldown_until - time.monotonic()
        if left > 0:
            await self._sleep(left)
        if self.unlimited:
            self._last_acquire = time.monotonic()
            self._active += 1
            self._settle[5] += 1  # started without a reservation: counted by the actor as a request
            if self._poller is None or self._poller.done():
                self._poller = asyncio.get_running_loop().create_task(self._poll())
            left = self._cooldown_until - time.monotonic()
            if left > 0:
                await self._sleep(left)
            return True
        future = asyncio.get_running_loop().create_future()
        self._queue.append((tokens, cost_usd, future))
        self._kick()
        delay = await future
        if delay is None:
            return False
        if delay > 0:
            await self._sleep(delay)
        return True

    def settle(self, token_delta: int, reserved_usd: float, spent_usd: float, tokens_used: int) -> None:
        """After every attempt (answered or not): correct the reservation with the real usage."""
        self._active = max(0, self._active - 1)
        for i, value in enumerate((token_delta, reserved_usd, spent_usd, tokens_used, 1)):
            self._settle[i] += value
        self._kick()  # the shared totals (progress: requests in flight, tokens, spend) stay current

    def cooldown(self, seconds: float) -> None:
        """A 429 arrived: every request of every actor waits `seconds` from now."""
        self._cooldown_until = max(self._cooldown_until, time.monotonic() + seconds)
        self._cooldown_report = max(self._cooldown_report, seconds)
        self._kick()

    async def flush(self) -> None:
        self._kick()
        while self._pump is not None and not self._pump.done():
            await asyncio.shield(self._pump)

    async def close(self) -> None:
        """Stop background calls (no remote call here: Ray may already be shut down)."""
        tasks = [t for t in (self._poller, self._pump) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll(self, every_s: float = 0.5, idle_s: float = 2.0) -> None:
        """While requests are being made, learn other actors' cool-downs; stop when idle."""
        while self._active > 0 or time.monotonic() - self._last_acquire < idle_s:
            await asyncio.sleep(every_s)
            self._kick()

    def _kick(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        first = True
        while self._queue or any(self._settle) or self._cooldown_report or first:
            first = False
            items, self._queue = self._queue, []
            settle, self._settle = tuple(self._settle), [0, 0.0, 0.0, 0, 0, 0]
            cooldown, self._cooldown_report = self._cooldown_report, 0.0
            try:
                delays, left = await self._call([(t, c) for t, c, _ in items], settle, cooldown)
            except Exception as err:  # the limiter actor is gone: fail these waits, keep the client usable
                for _, _, future in items:
                    if not future.done():
                        future.set_exception(err)
                continue
            self._cooldown_until = max(self._cooldown_until, time.monotonic() + left)
            for (_, _, future), delay in zip(items, delays):
                if not future.done():
                    future.set_result(delay)

    async def _call(self, items, settle, cooldown):
        if self.local is not None:
            if any(settle):
                self.local.settle(*settle)
            if cooldown:
                self.local.cooldown(cooldown)
            return self.local.reserve([Reservation(t, c) for t, c in items]), self.local.cooldown_left()
        import ray
        if not ray.is_initialized():  # never let a late call start a new Ray (auto-init)
            raise RuntimeError("Ray is not running")
        try:
            return await self.handle.call.remote(items, settle, cooldown)
        except Exception:
            if self.name is None:
                raise
            log.warning("rate limiter actor %s unreachable; getting it again", self.name)
            self.handle = limiter_handle(self.name, self.schedule_args)
            return await self.handle.call.remote(items, settle, cooldown)

    async def totals(self) -> dict[str, Any]:
        await self.flush()
        if self.local is not None:
            return self.local.totals()
        return await self.handle.totals.remote()
