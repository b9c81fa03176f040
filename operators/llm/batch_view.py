"""What a stage in batch mode reads instead of calling the endpoint: the run's view of its batches.

The batch phase (pipelines/batch/) fills the response cache, then writes for the run
`<batches>/runs/<run_id>.json`: the batch ids it collected (answers from them were bought by this
run: not `cached`, cost at the batch price) and the outcome of every request that got no answer
(a per-line error after the retry rules, the budget, an expired batch past `max_resubmits`). The
stage answers each row from the cache or from this view and never sends a request itself.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Optional

from operators import storage
from operators.llm.batch_settings import batch_location
from operators.llm.client import Outcome

NO_RESULT = "batch_no_result"  # a request the batch phase never saw (the rows changed between passes)


def view_uri(cache_uri: str, run_id: str) -> str:
    return storage.join(batch_location(cache_uri), "runs", f"{run_id or 'norun'}.json")


def write_view(cache_uri: str, run_id: str, bought: list[str], decided: dict[str, dict[str, Any]]) -> None:
    body = {"bought": sorted(set(bought)), "decided": decided}
    storage.write_bytes(view_uri(cache_uri, run_id), json.dumps(body, ensure_ascii=False).encode("utf-8"))


class BatchView:
    def __init__(self, bought: set[str], decided: dict[str, dict[str, Any]]):
        self.bought, self.decided = bought, decided

    @classmethod
    def load(cls, cache_uri: Optional[str], run_id: str) -> "BatchView":
        if cache_uri is None:
            return cls(set(), {})
        uri = view_uri(cache_uri, run_id)
        if not storage.exists(uri):
            return cls(set(), {})
        body = json.loads(storage.read_bytes(uri))
        return cls(set(body.get("bought") or ()), dict(body.get("decided") or {}))

    def answered(self, entry: dict[str, Any], outcome: Outcome) -> Outcome:
        """A cache hit: bought by this run's batches, or cached before."""
        if entry.get("batch_id") in self.bought:
            return replace(outcome, cached=False, attempts=int(entry.get("attempts") or 1))
        return outcome

    def outcome(self, key: str) -> Outcome:
        """No answer in the cache: the recorded reason, or `batch_no_result`."""
        found = self.decided.get(key)
        if found is None:
            return Outcome(reason=NO_RESULT, detail={"mode": "batch"})
        return Outcome(reason=found["reason"], detail=dict(found.get("detail") or {}),
                       attempts=int(found.get("attempts") or 0))
