"""Per-stage LLM totals from rows' `meta.llm.<stage>` (the hook the sink uses for the manifest).

Sum over every row a stage saw (published and rejected): rows rejected after a paid answer
(`truncated`, `content_filter`) carry their cost too. Two views: what this run paid (`requests`,
`attempts`, tokens, `cost_usd`: cache hits are free and counted in `cached`), and what the answers
cost when they were bought (`answers_*`, cache hits included), which an identical rerun keeps.

The facts of one run (`latency_s`, `attempts`, `cached`) are counted here and left out of published
rows, so that an identical rerun writes byte-identical shards.

A stage that asks several times per row records a list of entries; each entry may name its endpoint
(`endpoints.NAME`; none: `endpoint`), and `by_endpoint` sums them per endpoint.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from operators.schema import dumps_meta, loads_meta

FIELDS = ("requests", "attempts", "cached", "prompt_tokens", "completion_tokens", "cost_usd",
          "answers_prompt_tokens", "answers_completion_tokens", "answers_cost_usd")
RUN_FIELDS = ("latency_s", "attempts", "cached")


def empty_totals() -> dict[str, Any]:
    return {name: 0 for name in FIELDS}


def entries(meta_text: Optional[str]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(stage, entry) for every request recorded in a row's `meta.llm`."""
    for stage, value in (loads_meta(meta_text).get("llm") or {}).items():
        for entry in value if isinstance(value, list) else [value]:
            if isinstance(entry, dict):
                yield stage, entry


def add_row(totals: dict[str, dict[str, Any]], meta_text: Optional[str],
            by_endpoint: Optional[dict[str, dict[str, Any]]] = None) -> None:
    """Add one row's LLM usage to `totals` (stage -> counters) and `by_endpoint`, in place."""
    for stage, entry in entries(meta_text):
        add_entry(totals.setdefault(stage, empty_totals()), entry)
        if by_endpoint is not None:
            add_entry(by_endpoint.setdefault(entry.get("endpoint") or "endpoint", empty_totals()), entry)


def add_entry(t: dict[str, Any], entry: dict[str, Any]) -> None:
    usage = entry.get("usage") or {}
    cached = bool(entry.get("cached"))
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cost = float(entry.get("cost_usd") or 0.0)
    t["requests"] += 0 if cached else 1
    t["attempts"] += int(entry.get("attempts") or 0)
    t["cached"] += 1 if cached else 0
    if not cached:
        t["prompt_tokens"] += prompt
        t["completion_tokens"] += completion
        t["cost_usd"] = round(t["cost_usd"] + cost, 6)
    t["answers_prompt_tokens"] += prompt
    t["answers_completion_tokens"] += completion
    t["answers_cost_usd"] = round(t["answers_cost_usd"] + cost, 6)


def without_run_fields(meta_text: Optional[str]) -> Optional[str]:
    """The row's meta as published: each `meta.llm.<stage>` without the facts of this run."""
    meta = loads_meta(meta_text)
    llm = meta.get("llm")
    if not isinstance(llm, dict):
        return meta_text
    meta["llm"] = {stage: [_published(e) for e in entry] if isinstance(entry, list) else _published(entry)
                   for stage, entry in llm.items()}
    return dumps_meta(meta)


def _published(entry: Any) -> Any:
    return {k: v for k, v in entry.items() if k not in RUN_FIELDS} if isinstance(entry, dict) else entry


def llm_totals(meta_texts: Iterable[Optional[str]]) -> dict[str, dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for text in meta_texts:
        add_row(totals, text)
    return totals


def merge(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Combine totals from two shards."""
    out = {stage: dict(values) for stage, values in a.items()}
    for stage, values in b.items():
        t = out.setdefault(stage, empty_totals())
        for name in FIELDS:
            added = t[name] + values.get(name, 0)
            t[name] = round(added, 6) if name.endswith("cost_usd") else added
    return out
