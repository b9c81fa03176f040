"""read -> normalise -> write of the 104K rows of the parallel set (52K English + 52K Chinese), at 1x and 4x.

Each scale runs in a fresh subprocess with its own local Ray, so peak RSS (driver + every Ray process)
is measured per scale; flat peak RSS between 1x and 4x shows the pipeline streams.
Usage: python -m benchmarks.pipeline [--scales 1,4]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from benchmarks.common import OUT, PARALLEL, REPO, PeakRSS, figures_line

MAPPINGS = [("en", {"instruction": "en_instruction", "input": "en_input", "output": "en_output"}),
            ("zh", {"instruction": "zh_instruction", "input": "zh_input", "output": "zh_output"})]


def config(scale: int, out: str) -> dict:
    inputs = [{"uri": str(PARALLEL), "fields": fields, "lang": lang} for _ in range(scale) for lang, fields in MAPPINGS]
    return {"name": f"bench-pipeline-{scale}x", "inputs": inputs,
            "output": {"uri": out, "shard_rows": 20000}, "stages": ["normalize"]}


def run_one(scale: int) -> dict:
    sys.path.insert(0, str(REPO))
    from pipelines.config import validate
    from pipelines.runner import ensure_ray, run_pipeline
    out = str(OUT / f"pipeline-{scale}x")
    shutil.rmtree(out, ignore_errors=True)
    raw = config(scale, out)
    cfg = validate(raw, "<benchmark>")
    ensure_ray(cfg)
    with PeakRSS() as rss:
        start = time.perf_counter()
        manifest = run_pipeline(cfg, raw)
        elapsed = time.perf_counter() - start
    return {"rows": manifest["counts"]["input"], "seconds": round(elapsed, 1),
            "rows_per_s": round(manifest["counts"]["input"] / elapsed), "peak_rss_mb": rss.peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,4")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT=" + json.dumps(run_one(args.one)))
        return
    results = {}
    for scale in (int(s) for s in args.scales.split(",")):
        proc = subprocess.run([sys.executable, "-m", "benchmarks.pipeline", "--one", str(scale)], cwd=REPO,
                              capture_output=True, text=True, env={**os.environ, "RAY_ADDRESS": ""})
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT=")), None)
        if line is None:
            sys.exit(f"scale {scale}x failed:\n{proc.stderr[-3000:]}")
        results[scale] = json.loads(line[len("RESULT="):])
        print(f"{scale}x: {results[scale]}")
    one = results[min(results)]
    figures = {"rows": one["rows"], "rows_per_s": one["rows_per_s"], "peak_rss_mb_1x": one["peak_rss_mb"]}
    if 4 in results:
        figures.update({"rows_4x": results[4]["rows"], "rows_per_s_4x": results[4]["rows_per_s"],
                        "peak_rss_mb_4x": results[4]["peak_rss_mb"]})
    print(figures_line(figures))


if __name__ == "__main__":
    main()
