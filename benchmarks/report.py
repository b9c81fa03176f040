"""`instructpipe report` on a curate run of the 52K Alpaca set (English fields of the parallel set).

First `python -m pipelines run configs/curate.yaml` on the 52K rows (skipped with --reuse when its
output exists); then `python -m pipelines report OUTPUT --out …` in a fresh process pinned to one core
(sched_setaffinity): its wall time and the CPU seconds of its process tree. The top root verbs are
read back from the page's verb-noun chart and checked against the verbs the Self-Instruct and
GPT-4-LLM papers name among the most common.
Usage: python -m benchmarks.report [--reuse] [--verb-sample N]
Last line: rows=… report_cpu_s=… report_wall_s=… report_bytes=… top_verbs=… papers_verbs_in_top10=…
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import OUT, PARALLEL, REPO, TreeUsage, figures_line
from benchmarks.pipeline import bench_config, run_cli

PAPERS_VERBS = ("write", "give", "generate", "describe", "create", "explain")
FIELDS = {"instruction": "en_instruction", "input": "en_input", "output": "en_output"}


def top_verbs(html: str) -> list[str]:
    chart = html.split('aria-label="top root verbs and their direct-object nouns"', 1)[-1]
    return re.findall(r'font-weight="bold">([^<]+)</text>', chart)


def run_report(output: Path, target: Path, verb_sample: int | None) -> dict:
    cmd = [sys.executable, "-m", "pipelines", "report", str(output), "--out", str(target)]
    if verb_sample is not None:
        cmd += ["--verb-sample", str(verb_sample)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
    with TreeUsage(proc.pid) as usage:
        text, _ = proc.communicate()
    if proc.returncode:
        sys.exit(f"report failed:\n{text[-3000:]}")
    return {"report_cpu_s": round(usage.cpu_s, 1), "report_wall_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", action="store_true", help="keep an existing curate output")
    parser.add_argument("--verb-sample", type=int, default=None)
    args = parser.parse_args()
    output = OUT / "report" / "curate_en"
    if not (args.reuse and (output / "_manifest.json").exists()):
        with tempfile.TemporaryDirectory() as tmp:
            run = run_cli(bench_config("en", PARALLEL, output, FIELDS), Path(tmp))
        print(f"curate run: {run}", flush=True)
    manifest = json.loads((output / "_manifest.json").read_text())
    target = output.parent / "bench_report.html"
    figures = {"rows": manifest["counts"]["output"], **run_report(output, target, args.verb_sample)}
    html = target.read_text(encoding="utf-8")
    verbs = top_verbs(html)
    figures["report_bytes"] = len(html.encode("utf-8"))
    figures["top_verbs"] = ",".join(verbs[:10])
    figures["papers_verbs_in_top10"] = sum(1 for v in PAPERS_VERBS if v in verbs[:10])
    no_pair = re.search(r"<b>([0-9.]+)%</b> of the parsed instructions have no verb-noun pair", html)
    figures["no_pair_pct"] = no_pair.group(1) if no_pair else "?"
    print(yaml.safe_dump({"curate_config": str(REPO / "configs" / "curate.yaml")}).strip())
    print(figures_line(figures))


if __name__ == "__main__":
    main()
