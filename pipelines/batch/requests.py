"""Request files: `{custom_id, method, url, body}` lines, streamed into files under the provider's limits."""
from __future__ import annotations

import json
from typing import Any, Iterator, Optional

from operators import storage
from operators.llm.batch_settings import BatchSettings
from operators.llm.endpoint import Price
from operators.llm.keyset import KeySet
from operators.llm.prompts import estimate_tokens

CHAT_URL = "/v1/chat/completions"
_MB = 1_000_000


def request_line(key: str, body: dict[str, Any]) -> bytes:
    line = {"custom_id": key, "method": "POST", "url": CHAT_URL, "body": body}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def estimate_cost(body: dict[str, Any], price: Optional[Price]) -> float:
    """Pessimistic, as the synchronous path reserves: twice the prompt estimate plus max_tokens."""
    if price is None:
        return 0.0
    return price.cost(2 * estimate_tokens(body.get("messages") or []), int(body.get("max_tokens") or 0))


class RequestFiles:
    """Writes lines to `<directory>/<prefix>-NNNN.jsonl`, a new file at either limit; never holds a whole file."""

    def __init__(self, directory: str, prefix: str, limits: BatchSettings, price: Optional[Price]):
        self.directory, self.prefix, self.limits, self.price = directory, prefix, limits, price
        self.files: list[dict[str, Any]] = []
        self._handle = None

    def add(self, key: str, body: dict[str, Any]) -> None:
        self.add_line(key, request_line(key, body), estimate_cost(body, self.price))

    def add_line(self, key: str, line: bytes, estimate_usd: float) -> None:
        current = self.files[-1] if self._handle is not None else None
        if current is None or current["requests"] >= self.limits.max_requests_per_file or \
                current["bytes"] + len(line) > self.limits.max_file_mb * _MB:
            current = self._next()
        self._handle.write(line)
        current["requests"] += 1
        current["bytes"] += len(line)
        current["estimate_usd"] += estimate_usd

    def _next(self) -> dict[str, Any]:
        self._close_handle()
        uri = storage.join(self.directory, f"{self.prefix}-{len(self.files) + 1:04d}.jsonl")
        self._handle = storage.open_write(uri, binary=True)
        self.files.append({"uri": uri, "requests": 0, "bytes": 0, "estimate_usd": 0.0})
        return self.files[-1]

    def _close_handle(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def close(self) -> list[dict[str, Any]]:
        self._close_handle()
        for f in self.files:
            f["estimate_usd"] = round(f["estimate_usd"], 8)
        return self.files


def read_lines(uri: str) -> Iterator[tuple[int, str, bytes]]:
    """(line number from 1, custom_id, raw line) of a request file."""
    for number, raw in enumerate(storage.iter_lines(uri), start=1):
        if raw.strip():
            yield number, json.loads(raw)["custom_id"], raw if raw.endswith(b"\n") else raw + b"\n"


def file_keys(*uris: str) -> KeySet:
    """The custom_ids of request files, held compactly (16-byte digests, operators/llm/keyset.py)."""
    return KeySet(key for uri in uris for _, key, _ in read_lines(uri))
