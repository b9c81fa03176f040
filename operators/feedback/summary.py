"""Plot-ready statistics of judge runs: scores per source, and pairwise verdicts per judge.

The same `score_summary` summarises a published feedback dataset (the manifest's `feedback.scores`)
and GPT-4-LLM's own ratings (`cmp_data_scores.json`: `{model: [scores]}`), so our runs and the paper's
distribution are read by one piece of code. Pure functions over plain Python values.

Pairwise, per judge (every pair was judged twice, once with each answer first):
* `consistency_rate`: share of readable pairs whose two verdicts agree (an always-first judge: 0);
* `first_position_win_rate`: share of readable single verdicts that chose the answer shown first
  (no bias: about the same as `second_position_win_rate`);
* `win_rates[source]`: (wins + ½ ties) / pairs it took part in, where disagreements count as ties;
* `longer_answer_win_rate`: the same for whichever answer of a pair is longer (length bias: well
  over 0.5 when quality does not explain it).
"""
from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from typing import Any, Iterable, Optional

BINS = tuple(range(1, 11))


def score_bin(score: float) -> int:
    """The histogram bin of a score: rounded half up (7.5 -> 8), within 1..10."""
    return min(10, max(1, int(math.floor(score + 0.5))))


def score_summary(scores: dict[str, Iterable[Optional[float]]]) -> dict[str, Any]:
    """Per source: rows, scored, unscored, mean, median, stdev, the most common bin and its share, and a
    1..10 histogram (counts and shares)."""
    out = {}
    for source in sorted(scores):
        values = list(scores[source])
        scored = [float(v) for v in values if v is not None]
        counts = Counter(score_bin(v) for v in scored)
        hist = [counts.get(b, 0) for b in BINS]
        mode = max(BINS, key=lambda b: (counts.get(b, 0), -b)) if scored else None
        out[source] = {"n": len(values), "scored": len(scored), "unscored": len(values) - len(scored),
                       "mean": round(statistics.fmean(scored), 4) if scored else None,
                       "median": statistics.median(scored) if scored else None,
                       "stdev": round(statistics.pstdev(scored), 4) if scored else None,
                       "mode": mode, "mode_share": _rate(counts.get(mode, 0), len(scored)),  # "very centralized"
                       "histogram": {"bins": list(BINS), "counts": hist,
                                     "shares": [round(c / len(scored), 4) if scored else 0.0 for c in hist]}}
    return out


def _rate(numerator: float, denominator: int) -> Optional[float]:
    return round(numerator / denominator, 4) if denominator else None


def pairwise_summary(comparisons: Iterable[dict[str, Any]]) -> dict[str, Any]:
    by_judge: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in comparisons:
        by_judge[c.get("judge") or "endpoint"].append(c)
    return {judge: _one_judge(items) for judge, items in sorted(by_judge.items())}


def _one_judge(items: list[dict[str, Any]]) -> dict[str, Any]:
    readable = [c for c in items if c["result"] != "judge_unparsed"]
    verdicts = [(c["ab"], "a", "b") for c in items if c["ab"]] + [(c["ba"], "b", "a") for c in items if c["ba"]]
    first = sum(1 for v, shown_first, _ in verdicts if v == shown_first)
    second = sum(1 for v, _, shown_second in verdicts if v == shown_second)
    wins: Counter = Counter()
    totals: Counter = Counter()
    longer_points, longer_pairs = 0.0, 0
    for c in readable:
        totals[c["a"]] += 1
        totals[c["b"]] += 1
        if c["result"] in ("a", "b"):
            wins[c[c["result"]]] += 1.0
        else:
            wins[c["a"]] += 0.5
            wins[c["b"]] += 0.5
        if c["a_chars"] != c["b_chars"]:
            longer = "a" if c["a_chars"] > c["b_chars"] else "b"
            longer_pairs += 1
            longer_points += 1.0 if c["result"] == longer else 0.0 if c["result"] in ("a", "b") else 0.5
    results = Counter(c["result"] for c in items)
    return {"pairs": len(items), "readable_pairs": len(readable), "results": dict(sorted(results.items())),
            "consistency_rate": _rate(sum(1 for c in readable if c["result"] != "inconsistent"), len(readable)),
            "first_position_win_rate": _rate(first, len(verdicts)),
            "second_position_win_rate": _rate(second, len(verdicts)),
            "tie_verdict_rate": _rate(len(verdicts) - first - second, len(verdicts)),
            "win_rates": {s: _rate(wins[s], totals[s]) for s in sorted(totals)},
            "longer_answer_win_rate": _rate(longer_points, longer_pairs), "pairs_of_unequal_length": longer_pairs}


def summarise_rows(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The manifest's `feedback` section from published rows (their `candidates` and `comparisons`)."""
    scores: dict[str, list[Optional[float]]] = defaultdict(list)
    comparisons: list[dict[str, Any]] = []
    for row in rows:
        for c in row.get("candidates") or []:
            if c.get("response") is not None:
                scores[c["source"]].append(c.get("score"))
        comparisons.extend(row.get("comparisons") or [])
    out: dict[str, Any] = {}
    if any(v is not None for values in scores.values() for v in values):
        out["scores"] = score_summary(scores)
    if comparisons:
        out["pairwise"] = pairwise_summary(comparisons)
    return out
