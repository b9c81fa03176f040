"""`python -m pipelines.feedback_summary PATH`: the plot-ready score distribution of a judge run.

PATH is a published feedback output (the scores are summarised from its shards) or a file of ratings
in GPT-4-LLM's `cmp_data_scores.json` layout (`{model: [scores]}`); both go through the same
`operators.feedback.summary.score_summary`, so our judge's distribution and the paper's are comparable:

    python -m pipelines.feedback_summary ../shared/data/gpt4-llm-samples/cmp_data_scores.json
    python -m pipelines.feedback_summary ./out/gpt4_feedback --out scores.json

The JSON has `sources`, `bins` (1..10), per source `mean`, `median`, `stdev`, `mode_share`, `counts`
and `shares`, a long table `rows: [{source, score, count, share}]` (one row per source and bin, what
plotting libraries take), and for a feedback output the `pairwise` statistics.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from operators import storage
from operators.feedback.summary import BINS, score_summary, summarise_rows
from pipelines.io.exports import FEEDBACK_FIELDS, iter_rows
from pipelines.io.layout import MANIFEST, read_manifest


def summarise(path: str) -> dict[str, Any]:
    if storage.exists(storage.join(path, MANIFEST)):
        manifest = read_manifest(path)
        feedback = summarise_rows(iter_rows(path, manifest["shards"], FEEDBACK_FIELDS))
        return plot_ready(feedback.get("scores") or {}, feedback.get("pairwise"))
    scores = json.loads(storage.read_bytes(path).decode("utf-8"))
    if not isinstance(scores, dict) or not all(isinstance(v, list) for v in scores.values()):
        raise ValueError(f"{path}: expected a published output or a JSON object {{source: [scores]}}")
    return plot_ready(score_summary(scores))


def plot_ready(scores: dict[str, Any], pairwise: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"sources": sorted(scores), "bins": list(BINS)}
    for key in ("n", "scored", "mean", "median", "stdev", "mode", "mode_share"):
        out[key] = {s: scores[s][key] for s in sorted(scores)}
    out["counts"] = {s: scores[s]["histogram"]["counts"] for s in sorted(scores)}
    out["shares"] = {s: scores[s]["histogram"]["shares"] for s in sorted(scores)}
    out["rows"] = [{"source": s, "score": b, "count": c, "share": share} for s in sorted(scores)
                   for b, c, share in zip(BINS, out["counts"][s], out["shares"][s])]
    if pairwise:
        out["pairwise"] = pairwise
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.feedback_summary", description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a published feedback output, or a {source: [scores]} JSON file")
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    args = parser.parse_args(argv)
    try:
        summary = summarise(args.path)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(summary, indent=1, ensure_ascii=False)
    if args.out:
        storage.write_bytes(args.out, text.encode("utf-8"))
    else:
        print(text)
    means = ", ".join(f"{s} {m:.2f}" for s, m in summary["mean"].items() if m is not None)
    print(f"mean scores: {means}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
