"""Scheduled refresh: a 52K-row release, then a refresh with 1% new rows, through the CLI.

    python -m benchmarks.refresh [--latency 1.0] [--rows 52002] [--new-share 0.01]

The 52,002 Alpaca instructions (../shared/data) are split: the first 99% land in the inbox before the
first `instructpipe refresh` (v=1), the last 1% as a new file before the second (v=2), together with a
file repeating 1% of the old rows. Both runs answer with the project's OpenAI-protocol test server
(tests/support/openai_server.py, in this process, `--latency` seconds per answer; default 1 s, quicker
than a hosted GPT-4 answer; `--latency 0.002` measures the framework's fixed cost instead): a real
teacher at 52K answers is not affordable here. The first run takes about 15 minutes on 2 cores. Pipeline: normalize -> dedup -> generate_response. Reported:
wall time of each CLI run (Ray start-up included), requests the server saw in each, and how many of
the second run's requests were for rows of the first release (must be 0).
Last line: first_s=... second_s=... ratio=... requests_second=... requests_old_second=...
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import time

from benchmarks.common import OUT, PARALLEL, REPO, figures_line
from tests.support.openai_server import FakeOpenAI, split_alpaca

KEY_ENV = "BENCH_REFRESH_KEY"


def alpaca_rows(limit: int) -> list[dict]:
    rows = []
    with gzip.open(PARALLEL, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            rows.append({"instruction": record["en_instruction"], "input": record["en_input"]})
            if len(rows) >= limit:
                break
    return rows


def write_jsonl(path, rows) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def refresh(config: str, log_path) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0", KEY_ENV: "bench"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pipelines", "refresh", config], cwd=REPO, env=env,
                          capture_output=True, text=True)
    elapsed = time.monotonic() - started
    log_path.write_text(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"refresh failed ({done.returncode}): {done.stderr[-3000:]}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per answer of the test server")
    parser.add_argument("--rows", type=int, default=52002)
    parser.add_argument("--new-share", type=float, default=0.01)
    args = parser.parse_args()
    rows = alpaca_rows(args.rows)
    new = max(1, int(len(rows) * args.new_share))
    old, fresh = rows[:-new], rows[-new:]
    work = OUT / "refresh"
    shutil.rmtree(work, ignore_errors=True)
    inbox = work / "inbox"
    inbox.mkdir(parents=True)
    write_jsonl(inbox / "day-1.jsonl", old)
    with FakeOpenAI(latency_s=args.latency) as server:
        config = work / "refresh.json"
        config.write_text(json.dumps({
            "name": "alpaca_refresh", "lang": "en", "inputs": [{"uri": str(inbox)}],
            "output": {"uri": str(work / "root"), "shard_rows": 10000},
            "endpoint": {"base_url": server.url, "model": "gpt-4", "api_key_env": KEY_ENV, "num_actors": 2,
                         "concurrency_per_actor": 64, "timeout_s": 60, "max_retries": 2},
            "stages": [{"normalize": {"form": "NFKC"}}, {"dedup": {"threshold": 0.7}},
                       {"generate_response": {"max_tokens": 256}}]}))
        first_s, out = refresh(str(config), work / "first.log")
        requests_first = server.total
        print(out.strip().splitlines()[-1], flush=True)
        server.reset_counts()
        write_jsonl(inbox / "day-2.jsonl", fresh)
        write_jsonl(inbox / "day-2-repeats.jsonl", old[:new])
        second_s, out = refresh(str(config), work / "second.log")
        print(out.strip().splitlines()[-1], flush=True)
        old_keys = {(r["instruction"].strip(), r["input"].strip()) for r in old}
        with server._lock:
            prompts = dict(server.counts)
        requests_old = sum(n for p, n in prompts.items() if split_alpaca(p) in old_keys)
        requests_second = server.total
    latest = json.loads((work / "root" / "latest.json").read_text())
    figures = {"rows_first": len(old), "new_rows": new, "requests_first": requests_first,
               "dataset_rows": latest["rows"], "version": latest["version"],
               "latency_s": args.latency, "first_s": round(first_s, 1), "second_s": round(second_s, 1),
               "ratio": round(second_s / first_s, 3), "requests_second": requests_second,
               "requests_old_second": requests_old}
    print(figures_line(figures))


if __name__ == "__main__":
    main()
