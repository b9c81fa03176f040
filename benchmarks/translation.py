"""Translation QA on real translations: >= 5,000 rows of the parallel set replayed through `translate`.

The fake OpenAI server answers each translation request with the row's real Chinese from the parallel
set (tests/support/translation_server.py); the stage's QA judges it. The table is the QA rejection
rate by the set's own translation score (metadata.score, 1 = worst); the last line is
`rows=… reject_rate_score_1_2=… reject_rate_score_5=… ratio=…`.

    python -m benchmarks.translation [--rows 6000] [--fields instruction,input,output]
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
from collections import Counter, defaultdict

from benchmarks.common import OUT, PARALLEL, REPO, figures_line

sys.path.insert(0, str(REPO))


def subset(rows: int, path) -> int:
    """Every k-th row of the parallel set (k = 52002 // rows), written as JSONL.gz under benchmarks/out."""
    with gzip.open(PARALLEL, "rt", encoding="utf-8") as handle:
        lines = handle.readlines()
    step = max(1, len(lines) // rows)
    picked = lines[::step][:rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(picked)
    return len(picked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--fields", default="instruction,input,output")
    args = parser.parse_args()
    from pipelines.config import validate
    from operators import storage
    from pipelines.runner import run_pipeline
    from tests.support.openai_server import FakeOpenAI
    from tests.support.translation_server import TranslationReplay

    work = OUT / "translation"
    shutil.rmtree(work, ignore_errors=True)
    n = subset(args.rows, work / "input.jsonl.gz")
    with FakeOpenAI(answer_fn=TranslationReplay()) as server:
        raw = {"name": "translation_bench", "lang": "zh",
               "inputs": [{"uri": str(work / "input.jsonl.gz"), "lang": "en", "keep_fields": ["metadata.score"],
                           "fields": {"instruction": "en_instruction", "input": "en_input", "output": "en_output"}}],
               "output": {"uri": str(work / "run")},
               "ray": {"num_cpus": 2, "batch_rows": 256},
               "endpoint": {"base_url": server.url, "model": "gpt-4", "cache_uri": "none", "num_actors": 1,
                            "num_cpus_per_actor": 1, "concurrency_per_actor": 32, "timeout_s": 30},
               "stages": [{"translate": {"fields": args.fields.split(",")}}]}
        manifest = run_pipeline(validate(raw, "benchmarks/translation.py"), raw)
    totals, rejected, reasons = Counter(), Counter(), defaultdict(Counter)
    for entry in manifest["shards"] + manifest["rejects"]:
        for line in storage.iter_lines(storage.join(str(work / "run"), entry["path"])):
            row = json.loads(line)
            score = json.loads(row["meta"]).get("extra", {}).get("metadata.score")
            totals[score] += 1
            if row.get("reason"):
                rejected[score] += 1
                reasons[score][row["reason"]] += 1
    print(f"{'score':>5} {'rows':>6} {'rejected':>8} {'rate':>7}  top reasons")
    for score in sorted(totals, key=lambda s: (s is None, s)):
        top = ", ".join(f"{r} {c}" for r, c in reasons[score].most_common(4))
        print(f"{str(score):>5} {totals[score]:>6} {rejected[score]:>8} {rejected[score] / totals[score]:>7.2%}  {top}")
    low = (rejected[1] + rejected[2]) / max(1, totals[1] + totals[2])
    high = rejected[5] / max(1, totals[5])
    stage = next(s for s in manifest["stages"] if s["stage"] == "translate") if manifest["stages"] and "stage" in \
        manifest["stages"][0] else manifest["stages"][-1]
    print(f"accounting: input={manifest['counts']['input']} output={manifest['counts']['output']} "
          f"rejected={manifest['counts']['rejected']} stage={json.dumps(stage)[:200]} elapsed_s={manifest['elapsed_s']}")
    print(figures_line({"rows": n, "reject_rate_score_1_2": round(low, 4), "reject_rate_score_5": round(high, 4),
                        "ratio": round(low / high, 2) if high else "inf"}))


if __name__ == "__main__":
    main()
