"""How a chat request travels. Both transports are configured by the official `AsyncOpenAI` client
(base URL, `auth_headers`, `default_headers`, `default_query`, timeout) and report the same things:
a `Reply` (status, headers, parsed body or the error's type and code), or `TransportError(kind)` for
a request that got no usable answer (kind: connect | connection | timeout | malformed).

- `direct` (default): the SDK's headers and URL, sent with aiohttp (the SDK's own async transport
  library) on a keep-alive pool. About 0.4 ms of client CPU per request on our test machine.
- `sdk`: `AsyncOpenAI.post("/chat/completions")` with the SDK's aiohttp transport. About 2.3 ms per
  request: building the SDK's request object costs more CPU than the HTTP exchange itself, which at
  64 requests in flight per actor holds a Python actor to about 60% of the endpoint's rate.
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import aiohttp
import httpx2
import openai

from operators.llm.reply import Reply, TransportError


def connection_kind(err: BaseException) -> str:
    """`connect` (no TCP connection), `timeout` or `connection` (reset, disconnect) from the cause chain."""
    chain, cause = [], err
    while cause is not None and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(e, (aiohttp.ServerTimeoutError, aiohttp.SocketTimeoutError, asyncio.TimeoutError,
                          httpx2.ReadTimeout, httpx2.WriteTimeout, httpx2.PoolTimeout)) for e in chain):
        return "timeout"
    if any(isinstance(e, (aiohttp.ClientConnectorError, httpx2.ConnectError)) for e in chain):
        if not any(isinstance(e, aiohttp.ClientConnectionError) and not isinstance(e, aiohttp.ClientConnectorError)
                   for e in chain):
            return "connect"
    if isinstance(err, openai.APITimeoutError) and not any(isinstance(e, aiohttp.ClientError) for e in chain):
        return "timeout"
    return "connection"


class SdkTransport:
    def __init__(self, client: "openai.AsyncOpenAI"):
        self.client = client

    async def post(self, body: dict[str, Any]) -> Reply:
        try:
            raw = await self.client.post("/chat/completions", cast_to=httpx2.Response, body=body)
            return Reply(raw.status_code, raw.headers, raw.json())
        except openai.APIConnectionError as err:  # includes APITimeoutError
            raise TransportError(connection_kind(err)) from None
        except openai.APIStatusError as err:
            return Reply(err.status_code, err.response.headers, None, _text(getattr(err, "type", None)),
                         _text(getattr(err, "code", None)))
        except (ValueError, TypeError, KeyError, openai.APIResponseValidationError):
            raise TransportError("malformed") from None

    async def close(self) -> None:
        await self.client.close()


class DirectTransport:
    def __init__(self, client: "openai.AsyncOpenAI", timeout_s: float, connections: int):
        self.client = client
        self.url = str(client.base_url).rstrip("/") + "/chat/completions"
        headers = {**client.default_headers, **client.auth_headers}
        self.headers = {k: v for k, v in headers.items() if isinstance(v, str)}  # drops the SDK's Omit values
        self.query = {k: str(v) for k, v in (client.default_query or {}).items() if isinstance(v, (str, int, float))}
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.connections = connections
        self._session: Optional[aiohttp.ClientSession] = None

    def _open(self) -> aiohttp.ClientSession:  # inside the running loop: a session belongs to one loop
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.connections, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def post(self, body: dict[str, Any]) -> Reply:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            async with self._open().post(self.url, data=data, headers=self.headers, params=self.query or None) as resp:
                raw, status, headers = await resp.read(), resp.status, resp.headers
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as err:
            raise TransportError(connection_kind(err)) from None
        if 200 <= status < 300:
            try:
                return Reply(status, headers, json.loads(raw))
            except ValueError:
                raise TransportError("malformed") from None
        error_type, error_code = _error_fields(raw)
        return Reply(status, headers, None, error_type, error_code)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self.client.close()


def _error_fields(raw: bytes) -> tuple[Optional[str], Optional[str]]:
    """`type` and `code` of an OpenAI error body (`{"error": {...}}`); never its message."""
    try:
        error = json.loads(raw).get("error")
    except (ValueError, AttributeError):
        return None, None
    if not isinstance(error, dict):
        return None, None
    return _text(error.get("type")), _text(error.get("code"))


def _text(value: Any) -> Optional[str]:
    return None if value in (None, "") else str(value)
