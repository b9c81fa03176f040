"""Per-stage LLM totals from rows' `meta.llm.<stage>` (the hook the runner/sink uses for the manifest).

Sum over every row a stage saw (published and rejected): rows rejected after a paid answer
(`truncated`, `content_filter`) carry their cost too; cache hits count as requests saved.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from operators.schema import loads_meta

FIELDS = ("requests", "attempts", "cached", "prompt_tokens", "completion_tokens", "cost_usd")


def empty_totals() -> dict[str, Any]:
    return {name: 0 for name in FIELDS}


def add_row(totals: dict[str, dict[str, Any]], meta_text: Optional[str]) -> None:
    """Add one row's LLM usage to `totals` (stage -> counters), in place."""
    for stage, entry in (loads_meta(meta_text).get("llm") or {}).items():
        if not isinstance(entry, dict):
            continue
        t = totals.setdefault(stage, empty_totals())
        usage = entry.get("usage") or {}
        cached = bool(entry.get("cached"))
        t["requests"] += 0 if cached else 1
        t["attempts"] += int(entry.get("attempts") or 0)
        t["cached"] += 1 if cached else 0
        if not cached:
            t["prompt_tokens"] += int(usage.get("prompt_tokens") or 0)
            t["completion_tokens"] += int(usage.get("completion_tokens") or 0)
        t["cost_usd"] = round(t["cost_usd"] + float(entry.get("cost_usd") or 0.0), 6)


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
            t[name] = round(t[name] + values.get(name, 0), 6) if name == "cost_usd" else t[name] + values.get(name, 0)
    return out
