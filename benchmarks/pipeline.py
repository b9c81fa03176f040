"""What users run: `instructpipe run` of configs/curate.yaml (English fields of the 52K parallel set)
and configs/curate_zh.yaml (Chinese fields): 104,004 rows at 1x, and the same on 4x / 16x replicas
whose extra copies are lightly edited (so dedup has work to do, see replica.py).

Each run is the CLI in a fresh process (`python -m pipelines run`, its own local Ray); wall time, the
CPU seconds of that process and every process below it (Ray's GCS, raylet, workers; sampled every
0.2 s, so a process that ends between samples loses at most 0.2 s), and peak RSS of the tree.
Beside it, in this process, the operators alone on the same 1x rows (reader, every stage's
`run_operator`, the in-process dedup): their CPU seconds, and `overhead_ratio` = pipeline CPU /
operator CPU. Also a 1,000-row run (the local development loop).
Usage: python -m benchmarks.pipeline [--scales 1,4,16]
Last line: rows=… rows_per_s=… overhead_ratio=… small_run_s=… rows_16x=… rows_per_s_16x=…
peak_rss_mb_1x=… peak_rss_mb_16x=…
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import OUT, PARALLEL, REPO, TreeUsage, figures_line
from benchmarks.replica import FIELDS, write_replica

CONFIGS = {"en": REPO / "configs" / "curate.yaml", "zh": REPO / "configs" / "curate_zh.yaml"}


def bench_config(lang: str, data: Path, out: Path, fields: dict | None) -> dict:
    raw = yaml.safe_load(CONFIGS[lang].read_text())
    raw["inputs"] = [{"uri": str(data), **({"fields": fields} if fields else {})}]
    raw["output"]["uri"] = str(out)
    return raw


def run_cli(raw: dict, workdir: Path) -> dict:
    """`python -m pipelines run` on `raw` (written as YAML); wall, CPU and peak RSS of its tree."""
    path = workdir / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw))
    shutil.rmtree(raw["output"]["uri"], ignore_errors=True)
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines", "run", str(path)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with TreeUsage(proc.pid) as usage:
        output, _ = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode:
        sys.exit(f"{path} failed:\n{output[-3000:]}")
    return {"wall_s": round(wall, 1), "cpu_s": round(usage.cpu_s, 1), "peak_rss_mb": usage.peak_mb}


def datatrove_cpu(workdir: Path) -> float | None:
    """CPU seconds of DataTrove's local executor on both languages' rows (None: not installed)."""
    python = os.environ.get("DATATROVE_PYTHON") or sys.executable
    if subprocess.run([python, "-c", "import datatrove"], capture_output=True).returncode:
        return None
    total = 0.0
    for lang in FIELDS:
        proc = subprocess.Popen([python, str(REPO / "benchmarks" / "datatrove_run.py"), str(PARALLEL), lang,
                                 str(workdir / f"datatrove-{lang}")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        with TreeUsage(proc.pid) as usage:
            _, err = proc.communicate()
        if proc.returncode:
            sys.exit(f"datatrove run failed:\n{err[-3000:]}")
        total += usage.cpu_s
    return total


def operators_cpu(raws: list[dict]) -> tuple[float, int]:
    """CPU seconds of the read and every stage of each config, in this process, on the same rows."""
    import pyarrow as pa
    from operators.base import StageContext, run_operator
    from operators.dedup.local import dedup_table
    from operators.registry import get_operator
    from pipelines.config import validate
    from pipelines.runner import list_inputs
    from pipelines.io.readers import read_file
    total, rows = 0.0, 0
    for raw in raws:
        cfg = validate(raw, "<benchmark>")
        warm = [t for f in list_inputs(cfg) for t in read_file(f, cfg.ray.batch_rows)][:1]
        for phase in ("warm-up", "measured"):  # the first pass loads numba kernels and language profiles
            started = time.process_time()
            tables = warm if phase == "warm-up" else [t for f in list_inputs(cfg) for t in read_file(f, cfg.ray.batch_rows)]
            for stage in cfg.stages:
                op = get_operator(stage.op)(stage.config, StageContext(stage=stage.name))
                if op.kind == "global":
                    tables = [dedup_table(op, pa.concat_tables(tables, promote_options="permissive"))[0]]
                else:
                    tables = [run_operator(op, t)[0] for t in tables]
            if phase == "measured":
                total += time.process_time() - started
                rows += sum(t.num_rows for t in tables)
    return total, rows


def scale_inputs(scale: int, workdir: Path) -> dict[str, tuple[Path, dict | None]]:
    if scale == 1:
        return {lang: (PARALLEL, fields) for lang, fields in FIELDS.items()}
    return {lang: (write_replica(PARALLEL, lang, scale, workdir / f"replica-{lang}-{scale}x.jsonl.gz"), None)
            for lang in FIELDS}


def run_scale(scale: int, workdir: Path) -> dict:
    inputs = scale_inputs(scale, workdir)
    results = [run_cli(bench_config(lang, data, OUT / f"pipeline-{lang}-{scale}x", fields), workdir)
               for lang, (data, fields) in inputs.items()]
    rows = 104004 * scale
    wall, cpu = sum(r["wall_s"] for r in results), sum(r["cpu_s"] for r in results)
    return {"rows": rows, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "rows_per_s": round(rows / wall),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results), "runs": results}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,4,16")
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        workdir = Path(tmp)
        small = workdir / "small.jsonl.gz"
        write_replica(PARALLEL, "en", 1, small, limit=1000)
        small_run = run_cli(bench_config("en", small, OUT / "pipeline-small", None), workdir)
        print(f"1,000 rows: {small_run}", flush=True)
        results = {}
        for scale in scales:
            results[scale] = run_scale(scale, workdir)
            print(f"{scale}x: {results[scale]}", flush=True)
    op_cpu, op_rows = operators_cpu([bench_config(lang, PARALLEL, OUT / "unused", fields)
                                     for lang, fields in FIELDS.items()])
    print(f"operators in process: {op_cpu:.1f} CPU-s for {op_rows} rows out", flush=True)
    one, top = results[min(results)], results[max(results)]
    with tempfile.TemporaryDirectory(prefix="bench-datatrove-") as tmp:
        peer = datatrove_cpu(Path(tmp))
    if peer is not None:
        print(f"datatrove local executor: {peer:.1f} CPU-s; ours {one['cpu_s']} CPU-s "
              f"({peer / one['cpu_s']:.2f}x less)", flush=True)
    print(figures_line({"rows": one["rows"], "rows_per_s": one["rows_per_s"], "cpu_s": one["cpu_s"],
                        "operators_cpu_s": round(op_cpu, 1), "overhead_ratio": round(one["cpu_s"] / op_cpu, 2),
                        "small_run_s": small_run["wall_s"], f"rows_{max(results)}x": top["rows"],
                        f"rows_per_s_{max(results)}x": top["rows_per_s"], "peak_rss_mb_1x": one["peak_rss_mb"],
                        f"peak_rss_mb_{max(results)}x": top["peak_rss_mb"],
                        "datatrove_cpu_s": round(peer, 1) if peer is not None else "not_installed"}))


if __name__ == "__main__":
    main()
