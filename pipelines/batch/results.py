"""Result lines (OpenAI batch output/error files, vLLM run-batch output) -> the response cache or a verdict.

A line is classified by the synchronous rules (operators/llm/client.py): an answer (cost at the batch
price) goes to the cache; a non-retryable error becomes the row's reject reason; a retryable one
(429, 5xx, malformed, empty) is tried again in the next batch, up to `max_retries`; a line that
expired or was cancelled has no result and is resubmitted (bounded by `max_resubmits`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Container, Iterable, Optional

from operators.llm.cache import ResponseCache
from operators.llm.client import Retryable, parse_completion, status_outcome
from operators.llm.endpoint import EndpointConfig, Price
from operators.llm.keyset import KeySet

MISSING_CODES = {"batch_expired", "batch_cancelled"}
FLUSH_EVERY = 5000


@dataclass
class Tally:
    """What collecting a batch (or result files) found, and which requests are still open."""
    answered: int = 0
    unknown: int = 0
    decided: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {reason, detail, attempts}
    retry: dict[str, str] = field(default_factory=dict)  # key -> label of the retryable fault
    seen: KeySet = field(default_factory=KeySet)  # every key with a result line

    def counts(self) -> dict[str, int]:
        return {"answered": self.answered, "rejected": len(self.decided), "retry": len(self.retry),
                "unknown_custom_id": self.unknown}


def absorb(lines: Iterable[dict[str, Any]], keys: Container[str], cfg: EndpointConfig, cache: ResponseCache,
           tally: Tally, batch_id: Optional[str], attempts: dict[str, int], where: str) -> None:
    """Write each line's answer to the cache or its verdict to `tally`; unknown custom_ids are counted."""
    price = (cfg.price() or Price()).batch()
    for line in lines:
        key = line.get("custom_id") if isinstance(line, dict) else None
        if not isinstance(key, str) or key not in keys or key in tally.seen:
            tally.unknown += 1
            continue
        verdict = classify(line, cfg, price, where)
        if verdict == "missing":
            continue
        tally.seen.add(key)
        tries = attempts.get(key, 0) + 1
        if isinstance(verdict, str):
            tally.retry[key] = verdict
        elif verdict.reason and verdict.content is None and verdict.finish_reason is None:
            tally.decided[key] = {"reason": verdict.reason, "detail": {**verdict.detail, "attempts": tries},
                                  "attempts": tries}
        else:
            cache.put(key, {"content": verdict.content, "finish_reason": verdict.finish_reason,
                            "model": verdict.model, "usage": verdict.usage, "cost_usd": verdict.cost_usd,
                            "created": time.time(), "batch_id": batch_id, "attempts": tries})
            tally.answered += 1
            if tally.answered % FLUSH_EVERY == 0:
                cache.flush()
    cache.flush()


def classify(line: dict[str, Any], cfg: EndpointConfig, price: Price, where: str):
    """An Outcome (answer or reject), a retryable fault's label, or "missing" (no result yet)."""
    response = line.get("response")
    error = line.get("error")
    if not isinstance(response, dict):
        code = (error or {}).get("code") if isinstance(error, dict) else None
        return "missing" if code in MISSING_CODES else f"line_error:{str(code or 'unknown')[:40]}"
    status = int(response.get("status_code") or 0)
    body = response.get("body")
    try:
        if 200 <= status < 300:
            return parse_completion(body, price, cfg.model)
        err = (body or {}).get("error") if isinstance(body, dict) else None
        err = err if isinstance(err, dict) else {}
        return status_outcome(status, err.get("type"), err.get("code"), {}, where, cfg)
    except Retryable as retry:
        return str(retry.status or retry.kind)
