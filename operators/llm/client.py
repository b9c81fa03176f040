"""One chat completion through the official `openai` client's configuration (see transport.py for
the two ways it is sent): rate slots, retries, classification.

The SDK's own retries are off (`max_retries=0`): every attempt goes through the cluster-wide limiter,
is counted against the budget and recorded in `attempts`. Retried: 408, 409, 429, 5xx, timeouts,
connection errors, malformed bodies and empty answers, with exponential backoff and jitter, never
sooner than `Retry-After`; a 429 also cools every actor down. Not retried: other 4xx (row rejected
as `api_error:<status>`, `prompt_too_long` or `content_filter`). 401/403/404 and an endpoint that
never accepted a connection are configuration errors that stop the run. Error texts from the server
are never copied (a 401 message can quote part of the key): only status, type and code.
"""
from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from operators.llm.endpoint import ConfigurationError, EndpointConfig, Price, redact_url
from operators.llm.limiter import LimiterClient
from operators.llm.reply import Reply, TransportError

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 429}
FATAL_STATUS = {401: "refused the API key", 403: "denied access", 404: "does not serve this model or path"}
CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
FILTER_CODES = {"content_filter", "content_policy_violation"}


class EndpointUnreachable(ConfigurationError):
    pass


@dataclass
class Outcome:
    content: Optional[str] = None
    finish_reason: Optional[str] = None
    model: Optional[str] = None
    usage: dict[str, int] = field(default_factory=dict)
    latency_s: float = 0.0
    attempts: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    reason: Optional[str] = None  # set when the row must be rejected
    detail: dict[str, Any] = field(default_factory=dict)


class _Retry(Exception):
    def __init__(self, kind: str, status: Optional[int] = None, retry_after: Optional[float] = None):
        super().__init__(kind)
        self.kind, self.status, self.retry_after = kind, status, retry_after


Retryable = _Retry  # what parse_completion / status_outcome raise for a fault worth another attempt


class ChatClient:
    def __init__(self, cfg: EndpointConfig, url: str, api_key: str, limiter: LimiterClient):
        self.cfg, self.url, self.limiter = cfg, url, limiter
        self.price: Price = cfg.price() or Price()
        self.ever_connected = False
        import httpx2  # deferred with the SDK: `validate` imports this module and needs neither
        import openai
        from operators.llm.transport import DirectTransport, SdkTransport
        limits = httpx2.Limits(max_connections=cfg.concurrency_per_actor * 2,
                               max_keepalive_connections=cfg.concurrency_per_actor)
        # The SDK's aiohttp transport: httpcore's pool spends CPU per request that grows with
        # connections x waiting requests (about 40% of the client's CPU at 64 in flight).
        sdk = openai.AsyncOpenAI(api_key=api_key, base_url=url, max_retries=0, timeout=cfg.timeout_s,
                                 http_client=openai.DefaultAioHttpClient(limits=limits, timeout=cfg.timeout_s))
        self.transport = (DirectTransport(sdk, cfg.timeout_s, cfg.concurrency_per_actor * 2)
                          if cfg.transport == "direct" else SdkTransport(sdk))

    def __repr__(self) -> str:
        return f"ChatClient(url={redact_url(self.url)!r}, model={self.cfg.model!r})"

    async def close(self) -> None:
        await self.transport.close()

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any],
                       prompt_estimate: int) -> Outcome:
        cfg = self.cfg
        reserve_tokens = prompt_estimate + int(params.get("max_tokens") or 0)
        reserve_usd = self.price.cost(prompt_estimate * 2, int(params.get("max_tokens") or 0))
        attempts, connect_failures, last = 0, 0, None
        while attempts <= cfg.max_retries:
            if not await self.limiter.acquire(reserve_tokens, reserve_usd):
                return Outcome(attempts=attempts, reason="budget_exhausted",
                               detail={"attempts": attempts, **_last_detail(last)})
            attempts += 1
            started = time.monotonic()
            try:
                outcome = await self._attempt(messages, params)
            except _Retry as retry:
                self.limiter.settle(-reserve_tokens, reserve_usd, 0.0, 0)
                last = retry
                if retry.kind == "connect":
                    connect_failures += 1
                    if not self.ever_connected and connect_failures >= cfg.connect_attempts:
                        raise EndpointUnreachable(
                            f"cannot connect to endpoint {redact_url(self.url)} after {connect_failures} "
                            f"attempts; check endpoint.base_url (or $OPENAI_BASE_URL)") from None
                if retry.status == 429:
                    self.limiter.cooldown(min(retry.retry_after or self._backoff(attempts), cfg.max_retry_after_s))
                if attempts <= cfg.max_retries:
                    await asyncio.sleep(self._delay(attempts, retry.retry_after))
                continue
            except Exception:
                self.limiter.settle(-reserve_tokens, reserve_usd, 0.0, 0)
                raise
            outcome.attempts, outcome.latency_s = attempts, round(time.monotonic() - started, 4)
            used = outcome.usage.get("total_tokens", 0)
            self.limiter.settle(used - reserve_tokens, reserve_usd, outcome.cost_usd, used)
            if outcome.reason:
                outcome.detail = {"attempts": attempts, **outcome.detail}
            return outcome
        label = last.status if last is not None and last.status else (last.kind if last else "unknown")
        return Outcome(attempts=attempts, reason=f"retries_exhausted:{label}",
                       detail={"attempts": attempts, **_last_detail(last)})

    async def _attempt(self, messages: list[dict[str, str]], params: dict[str, Any]) -> Outcome:
        try:
            reply = await self.transport.post(request_body(self.cfg.model, messages, params))
        except TransportError as err:
            if err.kind != "connect":
                self.ever_connected = True
            raise _Retry(err.kind) from None
        self.ever_connected = True
        if not reply.ok:
            return self._status_outcome(reply)
        try:
            return self._parse(reply.body)
        except (AttributeError, TypeError, ValueError):
            raise _Retry("malformed") from None

    def _status_outcome(self, reply: Reply) -> Outcome:
        return status_outcome(reply.status, reply.error_type, reply.error_code, reply.headers,
                              f"endpoint {redact_url(self.url)}", self.cfg)

    def _parse(self, response: Any) -> Outcome:
        return parse_completion(response, self.price, self.cfg.model)

    def _backoff(self, attempt: int) -> float:
        base = min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * 2 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        return min(max(self._backoff(attempt), retry_after or 0.0), max(self.cfg.max_retry_after_s, 0.0))


def status_outcome(status: int, error_type: Any, code: Any, headers: Any, where: str,
                   cfg: EndpointConfig) -> Outcome:
    """A non-2xx answer (of a request or a batch line): raises for fatal and retryable statuses."""
    code = code or ""
    if status in FATAL_STATUS:
        raise ConfigurationError(
            f"{where} {FATAL_STATUS[status]} (HTTP {status}, model {cfg.model!r}, key from "
            f"${cfg.api_key_env})") from None
    if status in RETRY_STATUS or status >= 500:
        raise _Retry(f"http_{status}", status, _retry_after(headers or {})) from None
    detail = {"status": status, "error_type": _clip(error_type), "code": _clip(code)}
    if code in CONTEXT_CODES:
        return Outcome(reason="prompt_too_long", detail=detail)
    if code in FILTER_CODES:
        return Outcome(reason="content_filter", detail=detail)
    return Outcome(reason=f"api_error:{status}", detail=detail)


def parse_completion(response: Any, price: Price, model: str) -> Outcome:
    """A chat completion body -> Outcome (cost at `price`); raises _Retry for malformed or empty ones."""
    choices = response.get("choices") if isinstance(response, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise _Retry("malformed")
    choice = choices[0]
    content = (choice.get("message") or {}).get("content")
    finish = choice.get("finish_reason")
    if finish == "content_filter":
        outcome = Outcome(content=content, finish_reason=finish, reason="content_filter")
    elif not isinstance(content, str) or not content.strip():
        raise _Retry("empty_response")
    else:
        outcome = Outcome(content=content, finish_reason=finish)
    outcome.model = response.get("model") or model
    usage = response.get("usage")
    if isinstance(usage, dict):
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        outcome.usage = {"prompt_tokens": prompt, "completion_tokens": completion,
                         "total_tokens": int(usage.get("total_tokens") or prompt + completion)}
        outcome.cost_usd = round(price.cost(prompt, completion), 8)
    return outcome


def request_body(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
    """The chat-completions body of a request (sent directly, or as a batch line's `body`)."""
    return {"model": model, "messages": messages, **params}


def _retry_after(headers: Any) -> Optional[float]:
    """Seconds from `retry-after-ms`, `retry-after` (seconds or an HTTP date); None if absent."""
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, AttributeError):
        return None


def _last_detail(last: Optional[_Retry]) -> dict[str, Any]:
    if last is None:
        return {}
    return {"last_error": last.kind, **({"status": last.status} if last.status else {})}


def _clip(value: Any) -> Optional[str]:
    return None if value in (None, "") else str(value)[:64]
