"""Export layouts of feedback data, one published row -> zero or more export items (pure).

* `v2` — GPT-4-LLM's comparison_data_v2.json: `user_input`, `responses_and_scores: [{response, score,
  source}]` (scored candidates, best first).
* `v1` — the earlier comparison_data.json: `user_input`, `completion_a` (ranked higher), `completion_b`.
* `pairs` — what reward-model / DPO trainers read: `prompt`, `chosen`, `rejected` as text.
* `pairs_chat` — the same as chat messages (TRL's conversational form with an explicit prompt):
  `prompt: [{role: user, content}]`, `chosen` / `rejected`: `[{role: assistant, content}]`.

Pairs (`v1`, `pairs`, `pairs_chat`) come from scores (every two scored candidates at least `min_margin`
apart, the higher chosen), from pairwise `comparisons` (a clear result only), or from `revisions`
(critique_revise: the revision chosen over the original). Ties never become pairs.
"""
from __future__ import annotations

from itertools import combinations
from typing import Any, Iterator, Literal

from operators.feedback.prompts import request_text
from operators.schema import loads_meta

Layout = Literal["v2", "v1", "pairs", "pairs_chat"]
LAYOUTS = ("v2", "v1", "pairs", "pairs_chat")


def scored(row: dict[str, Any]) -> list[dict[str, Any]]:
    ranked = [c for c in row.get("candidates") or [] if c.get("response") is not None and c.get("score") is not None]
    return sorted(ranked, key=lambda c: -c["score"])


def preference_pairs(row: dict[str, Any], source: str, min_margin: float) -> Iterator[tuple[str, str]]:
    """(chosen, rejected) answers of a row."""
    if source == "revisions":
        record = loads_meta(row.get("meta")).get("critique_revise") or {}
        if record.get("original") and record.get("revision"):
            yield row.get("output") or record["revision"], record["original"]
        return
    if source == "comparisons":
        answers = {c["source"]: c["response"] for c in row.get("candidates") or []}
        for c in row.get("comparisons") or []:
            if c["result"] in ("a", "b"):
                loser = "b" if c["result"] == "a" else "a"
                yield answers[c[c["result"]]], answers[c[loser]]
        return
    for high, low in combinations(scored(row), 2):
        if high["score"] - low["score"] >= min_margin and high["score"] > low["score"]:
            yield high["response"], low["response"]


def items(row: dict[str, Any], layout: Layout, pairs_from: str = "scores",
          min_margin: float = 1.0) -> Iterator[dict[str, Any]]:
    prompt = request_text(row.get("instruction") or "", row.get("input") or "")
    if layout == "v2":
        ranked = scored(row)
        if ranked:
            yield {"user_input": prompt, "responses_and_scores": [
                {"response": c["response"], "score": c["score"], "source": c["source"]} for c in ranked]}
        return
    for chosen, rejected in preference_pairs(row, pairs_from, min_margin):
        if layout == "v1":
            yield {"user_input": prompt, "completion_a": chosen, "completion_b": rejected}
        elif layout == "pairs":
            yield {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        else:
            yield {"prompt": [{"role": "user", "content": prompt}],
                   "chosen": [{"role": "assistant", "content": chosen}],
                   "rejected": [{"role": "assistant", "content": rejected}]}
