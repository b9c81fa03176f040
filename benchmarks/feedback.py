"""Judge throughput of the feedback configs through the CLI, against the test server at 200 ms latency.

    python -m benchmarks.feedback [--latency 0.2] [--rows 999]

For configs/pairwise.yaml (`compare`: every pair judged twice, once in each order) and
configs/gpt4_feedback.yaml (`judge`: one call per candidate), all endpoints pointed at one test
server (`python -m tests.support.openai_server --feedback`), real GPT-4 answers as candidates:
1. a first `instructpipe run` pays for the candidates and the judgments;
2. a second run with a new judge model (`--set endpoints.judge.model=...`) finds every candidate in
   the cache and sends only judge calls, which the server timestamps.
Judge rate = judge requests / (last arrival - first arrival + latency), timed by the server for the
judge's model only; ideal = judge actors x
concurrency per actor / latency. Both orders count as calls, so a pair costs `judge_calls_per_pair`
(2.0 when no reply needs a retry). Last line: `share_of_ideal=... judge_calls_per_pair=...`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchmarks.common import DATA, OUT, REPO, figures_line

ANSWERS = DATA / "gpt4-llm-samples" / "alpaca_gpt4_en_sample.json"
ACTORS, IN_FLIGHT = 2, 64


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.openai_server", "--latency", str(latency),
                             "--feedback"], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    line = proc.stdout.readline().strip()
    if not line.startswith("listening "):
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.split()[1]


def arrivals(url: str, model: str) -> list[float]:
    """When the server received each request for `model` (the judge's, unique to the timed run)."""
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_stats") as reply:
        return json.load(reply)["by_model"].get(model, [])


def run_cli(config: str, url: str, data: Path, out: Path, judge_model: str) -> dict:
    sets = [f"endpoints.*.base_url={url}", "endpoints.*.api_key_env=BENCH_NO_KEY", "endpoints.*.max_cost_usd=null",
            "endpoints.*.rpm=null", "endpoints.*.tpm=null", f"endpoints.*.num_actors={ACTORS}",
            f"endpoints.*.concurrency_per_actor={IN_FLIGHT}", f"endpoints.judge.model={judge_model}"]
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run([sys.executable, "-m", "pipelines", "run", f"configs/{config}", "--input", str(data),
                           "--output", str(out), "--json", "--set", *sets], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{config} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(config: str, stage: str, url: str, data: Path, latency: float) -> dict:
    out = OUT / "feedback" / config.removesuffix(".yaml")
    run_cli(config, url, data, out, "gpt-4")
    judge_model = f"gpt-4-bench-{int(time.time())}"
    manifest = run_cli(config, url, data, out, judge_model)
    times = arrivals(url, judge_model)
    llm = manifest["llm"][stage]
    calls = llm["requests"] + llm["cached"]  # duplicate instructions share one request
    rate = len(times) / (max(times) - min(times) + latency)
    ideal = ACTORS * IN_FLIGHT / latency
    feedback = manifest["feedback"]
    pairs = feedback["pairwise"]["judge"]["pairs"] if "pairwise" in feedback else None
    judged = sum(v["scored"] + v["unscored"] for v in feedback["scores"].values()) if "scores" in feedback else None
    return {"calls": calls, "server_calls": len(times), "calls_per_s": round(rate, 1), "ideal": ideal,
            "share": round(rate / ideal, 3), "pairs": pairs, "judged_candidates": judged,
            "calls_per_pair": round(calls / pairs, 3) if pairs else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rows", type=int, default=999)
    args = parser.parse_args()
    rows = json.loads(ANSWERS.read_text(encoding="utf-8"))[: args.rows]
    data = OUT / "feedback" / "input.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps({"instruction": r["instruction"], "input": r["input"]}) + "\n" for r in rows))
    server, url = start_server(args.latency)
    try:
        pairwise = bench("pairwise.yaml", "compare", url, data, args.latency)
        single = bench("gpt4_feedback.yaml", "judge", url, data, args.latency)
    finally:
        server.terminate()
        server.wait(10)
    print(f"pairwise compare: {pairwise}")
    print(f"gpt4_feedback judge: {single}")
    print(figures_line({"share_of_ideal": pairwise["share"], "judge_calls_per_pair": pairwise["calls_per_pair"],
                        "compare_calls_per_s": pairwise["calls_per_s"],
                        "judged_pairs_per_s": round(pairwise["calls_per_s"] / pairwise["calls_per_pair"], 1),
                        "judge_share_of_ideal": single["share"], "judged_candidates_per_s": single["calls_per_s"],
                        "ideal_calls_per_s": pairwise["ideal"], "latency_s": args.latency}))


if __name__ == "__main__":
    main()
