"""Batch mode through the CLI: N requests written -> uploaded -> collected -> cached -> published.

Against the test server's Batch API (tests/support/batch_server.py; results ready at once), so the
figure is instructpipe's own cost per row. Peak RSS is the driver's (the batch phase runs there) and,
apart, the largest Ray worker's (the stage's actor, answering from the response cache): neither may
grow with the job. Last line: requests=... rows_per_s=... peak_rss_mb_10k=... peak_rss_mb_100k=...
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import psutil
import yaml

from benchmarks.common import OUT, REPO, figures_line


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.openai_server", "--latency", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().split()[-1]


def peak_rss(pid: int, stop: threading.Event, found: list[int]) -> None:
    """found: peak RSS and peak USS (private: without the object store's shared pages it maps) of the
    driver, then the same of the largest Ray worker below it."""
    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            children = proc.children(recursive=True)
            sample(proc, found, 0)
        except psutil.NoSuchProcess:
            return
        for child in children:
            try:
                if child.cmdline()[:1] and child.cmdline()[0].startswith("ray::"):
                    sample(child, found, 2)
            except (psutil.NoSuchProcess, psutil.AccessDenied, IndexError):
                pass
        time.sleep(0.2)


def sample(proc: psutil.Process, found: list[int], at: int) -> None:
    info = proc.memory_full_info()
    found[at], found[at + 1] = max(found[at], info.rss), max(found[at + 1], info.uss)


def run_batch(url: str, n: int) -> tuple[float, list[float]]:
    """(wall seconds, [driver RSS, driver USS, worker RSS, worker USS] peaks in MB) of one CLI run over n
    distinct instructions."""
    work = OUT / f"batch-{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with open(work / "in.jsonl", "w") as f:
        for i in range(n):
            f.write(json.dumps({"instruction": f"Write one sentence about topic number {i}.", "input": "",
                                "output": ""}) + "\n")
    config = {"name": f"batch-bench-{n}", "lang": "en", "inputs": [{"uri": str(work / "in.jsonl")}],
              "output": {"uri": str(work / "out")}, "ray": {"batch_rows": 2000},
              "endpoint": {"base_url": url, "model": "gpt-4o-mini", "mode": "batch", "num_actors": 1,
                           "limiter": "local", "batch": {"poll_s": 0.1, "poll_max_s": 0.5}},
              "stages": [{"generate_response": {}}]}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": ""}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines", "run", str(work / "config.yaml"), "--json"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, found = threading.Event(), [0, 0, 0, 0]
    sampler = threading.Thread(target=peak_rss, args=(proc.pid, stop, found), daemon=True)
    sampler.start()
    out, err = proc.communicate()
    elapsed = time.monotonic() - started
    stop.set()
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}): {err[-2000:]}")
    manifest = json.loads(out.strip().splitlines()[-1])
    assert manifest["counts"]["output"] == n, manifest["counts"]
    assert manifest["llm"]["generate_response"]["requests"] == n
    shutil.rmtree(work, ignore_errors=True)
    return elapsed, [x / 2 ** 20 for x in found]


def main() -> None:
    server, url = start_server()
    try:
        figures = {}
        for n, tag in ((10_000, "10k"), (100_000, "100k")):
            elapsed, (rss, uss, worker, worker_uss) = run_batch(url, n)
            print(f"{n} requests: {elapsed:.1f} s, {n / elapsed:.0f} rows/s, driver peak RSS {rss:.0f} MB "
                  f"(USS {uss:.0f} MB), largest worker RSS {worker:.0f} MB (USS {worker_uss:.0f} MB)", flush=True)
            figures[f"rows_per_s_{tag}"], figures[f"peak_rss_mb_{tag}"] = round(n / elapsed), round(rss)
            figures[f"peak_uss_mb_{tag}"] = round(uss)
            figures[f"worker_rss_mb_{tag}"], figures[f"worker_uss_mb_{tag}"] = round(worker), round(worker_uss)
    finally:
        server.terminate()
        server.wait(10)
    print(figures_line({"requests": 100_000, "rows_per_s": figures["rows_per_s_100k"],
                        "rows_per_s_10k": figures["rows_per_s_10k"], "peak_rss_mb_10k": figures["peak_rss_mb_10k"],
                        "peak_rss_mb_100k": figures["peak_rss_mb_100k"],
                        **{k: figures[k] for k in ("peak_uss_mb_10k", "peak_uss_mb_100k", "worker_rss_mb_10k",
                                                   "worker_rss_mb_100k", "worker_uss_mb_10k", "worker_uss_mb_100k")}}))


if __name__ == "__main__":
    main()
