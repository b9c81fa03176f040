"""Peak memory of `instructpipe report` on releases of 10K, 100K and 1M rows: it must not grow with them.

Shards of 10,000 rows (the default `output.shard_rows`) are written from the 52K Alpaca set's English
fields the way the sink writes them; a release of N rows is a manifest listing them over and over (ids
repeat: the report does not mind, and the files are the same size as a real run's). Each size is one
`python -m pipelines report OUTPUT` process; peak RSS and USS (private memory) sampled every 50 ms.
Last line: peak_rss_mb_10k=... peak_rss_mb_100k=... peak_rss_mb_1m=... peak_uss_mb_... wall_s_1m=...
"""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import threading
import time

import psutil
import pyarrow as pa

from benchmarks.common import OUT, PARALLEL, REPO, figures_line
from operators.schema import RECORD_SCHEMA, make_record
from pipelines.io.sink import encode

SHARD_ROWS = 10_000
SIZES = ((10_000, "10k"), (100_000, "100k"), (1_000_000, "1m"))


def write_shards(root) -> list[dict]:
    (root / "data").mkdir(parents=True)
    with gzip.open(PARALLEL, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    shards = []
    for start in range(0, len(rows) - SHARD_ROWS + 1, SHARD_ROWS):
        records = [make_record(r["en_instruction"], r["en_input"], r["en_output"], "en", source=f"alpaca:{start + i}")
                   for i, r in enumerate(rows[start:start + SHARD_ROWS])]
        path = f"data/part-{len(shards):05d}.jsonl.gz"
        (root / path).write_bytes(encode(pa.Table.from_pylist(records, RECORD_SCHEMA), "jsonl"))
        shards.append({"path": path, "rows": SHARD_ROWS, "format": "jsonl"})
    return shards


def peak_memory(pid: int, stop: threading.Event, found: list[int]) -> None:
    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            info = proc.memory_full_info()
        except psutil.NoSuchProcess:
            return
        found[0], found[1] = max(found[0], info.rss), max(found[1], info.uss)
        time.sleep(0.05)


def run_report(root, shards: list[dict], rows: int) -> tuple[float, float, float]:
    """(peak RSS MB, peak USS MB, wall s) of one report over `rows` rows."""
    listed = [shards[i % len(shards)] for i in range(rows // SHARD_ROWS)]
    manifest = {"name": f"report-memory-{rows}", "run_id": "bench", "config_hash": "0" * 64,
                "counts": {"input": rows, "output": rows, "rejected": 0},
                "stages": [{"name": "read", "in": rows, "out": rows, "rejected": 0, "reasons": {}}],
                "shards": listed, "rejects": []}
    (root / "_manifest.json").write_text(json.dumps(manifest))
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines", "report", str(root), "--out", str(root / "page.html")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, found = threading.Event(), [0, 0]
    sampler = threading.Thread(target=peak_memory, args=(proc.pid, stop, found), daemon=True)
    sampler.start()
    _, err = proc.communicate()
    stop.set()
    if proc.returncode != 0:
        raise SystemExit(f"report failed ({proc.returncode}): {err[-2000:]}")
    return found[0] / 2**20, found[1] / 2**20, time.monotonic() - started


def main() -> None:
    root = OUT / "report-memory"
    shutil.rmtree(root, ignore_errors=True)
    shards = write_shards(root)
    figures = {}
    try:
        for rows, tag in SIZES:
            rss, uss, wall = run_report(root, shards, rows)
            print(f"{rows} rows ({rows // SHARD_ROWS} shards): peak RSS {rss:.0f} MB, USS {uss:.0f} MB, {wall:.1f} s",
                  flush=True)
            figures[f"peak_rss_mb_{tag}"], figures[f"peak_uss_mb_{tag}"] = round(rss), round(uss)
            figures[f"wall_s_{tag}"] = round(wall, 1)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(figures_line(figures))


if __name__ == "__main__":
    main()
