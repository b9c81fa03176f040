"""What an LLM stage talks to: cache first, then the endpoint, many requests in flight.

`LLMService` owns a persistent asyncio loop on a daemon thread (Ray Data calls operators
synchronously, batch after batch; the loop, the HTTP connections and the cache outlive each call).
`complete_many` runs a whole batch's requests concurrently on it, at most `concurrency_per_actor` in
flight, identical requests (same cache key) sharing one call, and returns when every request has an
outcome and the new answers are written to the cache.
"""
from __future__ import annotations

import asyncio
import atexit
import hashlib
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Optional

from operators.llm.batch_view import BatchView
from operators.llm.breaker import CircuitBreaker
from operators.llm.cache import ResponseCache, cache_key
from operators.llm.client import ChatClient, Outcome
from operators.llm.endpoint import (LOCAL, ConfigurationError, EndpointConfig, cache_location, load_api_key,
                                    redact_url, resolve_base_url)
from operators.llm.limiter import LimiterClient, limiter_handle
from operators.llm.prompts import estimate_tokens

log = logging.getLogger(__name__)
REFRESH_S = 30.0  # how often the cache index looks for files written by other actors


@dataclass(frozen=True)
class Request:
    messages: list[dict[str, str]]
    params: dict[str, Any]
    endpoint: Optional[str] = None  # a name under `endpoints:` (None: the stage's first endpoint)


class LoopThread:
    def __init__(self, name: str = "llm-loop"):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: Optional[float] = None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def limiter_name(cfg: EndpointConfig, url: str, run_id: str, name: Optional[str] = None) -> str:
    """One limiter per endpoint (named ones apart, even on one URL) and model per Ray job (a resumed run
    starts a fresh budget)."""
    import ray
    job = ray.get_runtime_context().get_job_id() if ray.is_initialized() else "nojob"
    named = f"\0{name}" if name else ""
    digest = hashlib.sha256(f"{redact_url(url)}\0{cfg.model}{named}".encode()).hexdigest()[:12]
    return f"llm-limiter-{job}-{run_id or 'norun'}-{digest}"


class LLMService:
    def __init__(self, cfg: EndpointConfig, run_id: str = "", output_uri: Optional[str] = None,
                 name: Optional[str] = None):
        self.cfg, self.name = cfg, name
        self.url = resolve_base_url(cfg)
        if self.url == LOCAL:
            raise ConfigurationError("endpoint.base_url 'local' needs the embedded server to be running")
        # batch_file: nothing is sent from here, so no key is needed
        api_key = "unused-in-batch-file-mode" if cfg.mode == "batch_file" else load_api_key(cfg, self.url)
        if cfg.max_cost_usd is not None and cfg.price() is None:
            raise ConfigurationError(f"max_cost_usd is set but endpoint.prices has no price for {cfg.model!r}")
        cache_uri = cache_location(cfg, output_uri, name)
        self.cache = ResponseCache(cache_uri)
        self.breaker = CircuitBreaker(cfg.breaker_consecutive, redact_url(self.url), cache_uri)
        self.cache.refresh()
        # batch modes: answers come from the cache the batch phase filled, failures from its view
        self.view = None if cfg.mode == "sync" else BatchView.load(cache_uri, run_id)
        self._refreshed = time.monotonic()
        schedule = {"rpm": cfg.rpm, "tpm": cfg.tpm, "burst_s": cfg.burst_s,
                    "max_requests": cfg.max_requests, "max_cost_usd": cfg.max_cost_usd}
        limiter = limiter_name(cfg, self.url, run_id, name)
        handle = limiter_handle(limiter, schedule) if cfg.limiter == "cluster" else None
        self.loop = LoopThread()
        self.limiter = LimiterClient(schedule, handle, limiter if handle is not None else None)
        self.client = ChatClient(cfg, self.url, api_key, self.limiter)
        self._inflight: dict[str, asyncio.Future] = {}
        self._budget_warned = False
        self._semaphore = self.loop.run(self._start())
        atexit.register(self.close)

    def close(self) -> None:
        """Write what is pending and close the HTTP sessions (also run at interpreter exit)."""
        if not self.loop.thread.is_alive():
            return
        try:
            self.cache.flush()
            self.loop.run(self._shutdown(), timeout=2)
        except Exception as err:  # closing is best effort
            log.debug("closing LLM service: %s", type(err).__name__)
        self.loop.stop()

    def __repr__(self) -> str:
        return f"LLMService(url={redact_url(self.url)!r}, model={self.cfg.model!r})"

    async def _start(self) -> asyncio.Semaphore:
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())
        return asyncio.Semaphore(self.cfg.concurrency_per_actor)

    async def _shutdown(self) -> None:
        self._flusher.cancel()
        await asyncio.gather(self._flusher, return_exceptions=True)
        await self.limiter.close()
        await self.client.close()

    def complete_many(self, requests: list[Optional[Request]]) -> list[Optional[Outcome]]:
        """One outcome per request (None in, None out), in order."""
        return self.loop.run(self._many(requests))

    def totals(self) -> dict[str, Any]:
        return self.loop.run(self.limiter.totals())

    async def _many(self, requests: list[Optional[Request]]) -> list[Optional[Outcome]]:
        if time.monotonic() - self._refreshed > REFRESH_S:
            self._refreshed = time.monotonic()
            await asyncio.to_thread(self.cache.refresh)
        tasks = [asyncio.ensure_future(self._one(r)) if r is not None else None for r in requests]
        live = [t for t in tasks if t is not None]
        try:
            await asyncio.gather(*live)
        except BaseException:
            for task in live:
                task.cancel()
            await asyncio.gather(*live, return_exceptions=True)
            raise
        finally:
            await asyncio.to_thread(self.cache.flush)
            await self.limiter.flush()
        return [t.result() if t is not None else None for t in tasks]

    async def _one(self, request: Request) -> Outcome:
        key = cache_key(self.cfg.model, request.messages, request.params)
        entry = self.cache.get(key)
        if entry is not None:
            return from_cache(entry) if self.view is None else self.view.answered(entry, from_cache(entry))
        shared = self._inflight.get(key)
        if shared is not None:
            return replace(await asyncio.shield(shared), cached=True, attempts=0)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            outcome = await self._call(request, key)
            if outcome.content is not None or outcome.finish_reason is not None:
                self.cache.put(key, {"content": outcome.content, "finish_reason": outcome.finish_reason,
                                     "model": outcome.model, "usage": outcome.usage, "cost_usd": outcome.cost_usd,
                                     "created": time.time()})
            future.set_result(outcome)
            return outcome
        except BaseException as err:
            future.set_exception(err if isinstance(err, Exception) else RuntimeError("cancelled"))
            future.exception()  # retrieved: no "never retrieved" warning when nobody shares it
            raise
        finally:
            self._inflight.pop(key, None)

    async def _call(self, request: Request, key: str) -> Outcome:
        estimate = estimate_tokens(request.messages)
        too_long = context_check(self.cfg, request, estimate)
        if too_long is not None:
            return too_long
        if self.view is not None:
            return self.view.outcome(key)
        async with self._semaphore:
            self.breaker.check()
            outcome = await self.client.complete(request.messages, request.params, estimate)
        self.breaker.record(outcome.reason)
        if outcome.reason == "budget_exhausted" and not self._budget_warned:
            self._budget_warned = True
            log.warning("LLM budget reached (max_cost_usd=%s, max_requests=%s): no new requests; the rest "
                        "of the rows go to rejects as budget_exhausted, a rerun pays only for them",
                        self.cfg.max_cost_usd, self.cfg.max_requests)
        return outcome

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.cache_flush_s)
            try:
                await asyncio.to_thread(self.cache.flush)
            except RuntimeError:  # interpreter shutting down
                return
            except Exception as err:  # storage hiccup: entries stay pending, next flush tries again
                log.warning("response cache flush failed: %s", type(err).__name__)


def context_check(cfg: EndpointConfig, request: Request, estimate: int) -> Optional[Outcome]:
    """`prompt_too_long` before paying, when the estimate is over `endpoint.context_tokens`."""
    max_tokens = int(request.params.get("max_tokens") or 0)
    limit = cfg.context_tokens
    if limit is not None and estimate + max_tokens > limit:
        return Outcome(reason="prompt_too_long",
                       detail={"estimated_prompt_tokens": estimate, "max_tokens": max_tokens, "context_tokens": limit})
    return None


def from_cache(entry: dict[str, Any]) -> Outcome:
    finish = entry.get("finish_reason")
    return Outcome(content=entry.get("content"), finish_reason=finish, model=entry.get("model"),
                   usage=dict(entry.get("usage") or {}), cost_usd=float(entry.get("cost_usd") or 0.0), cached=True,
                   reason="content_filter" if finish == "content_filter" else None)
