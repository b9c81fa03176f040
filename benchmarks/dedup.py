"""Dedup benchmark: `python -m benchmarks.dedup [--docs 200000]`.

1. 200K short instruction-like docs end to end on one core (normalise, sign, LSH, verify,
   components), in-process (`operators/dedup/local.py`): the Ray stage's own batch functions
   (prepare, verify, removal table, mark) in its batch size; only the bucket grouping is an
   in-memory hash grouping instead of a Ray groupby. CPU seconds of this process
   (time.process_time), after a small warm-up run that loads (or, on a machine's first run,
   compiles) the numba kernels.
2. A plain datasketch loop (`MinHash.update` per shingle) on a subsample, and the ratio.
3. Recall/precision against exact character 5-gram Jaccard >= 0.7 over all pairs of 5,000 docs.
4. The 52K Alpaca parallel set, English and Chinese separately: rows removed, 20 removed pairs.
5. Peak RSS and bytes per document of the persistent index.
Last line: docs=... docs_per_core_minute=... ratio_vs_datasketch=... recall=... precision=... peak_rss_mb=...
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

# One core: no BLAS/OpenMP helper threads (set before numpy loads; their CPU time would count here).
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from datasketch import MinHash  # noqa: E402

from operators.dedup import batches  # noqa: E402
from operators.dedup.components import UnionFind  # noqa: E402
from operators.dedup.removals import removal_table  # noqa: E402
from operators.dedup.index import write_index  # noqa: E402
from operators.dedup.local import dedup_table, find_edges  # noqa: E402
from operators.dedup.minhash import MinHasher  # noqa: E402
from operators.dedup.release import index_rows  # noqa: E402
from operators.dedup.stage import Dedup, DedupConfig  # noqa: E402
from operators.dedup.text import normalize_batch, shingle_hash32, shingles  # noqa: E402
from operators.schema import make_record, records_to_table  # noqa: E402
from tests.operators.dedup.dedup_corpus import instructions, table, true_pairs  # noqa: E402

PARALLEL = REPO.parent / "shared" / "data" / "alpaca_parallel_en_zh_52k.jsonl.gz"


def cpu() -> float:
    return time.process_time()


def end_to_end(n: int) -> tuple[float, int, pa.Table]:
    data = table(instructions(n, seed=1))
    op = Dedup(DedupConfig(fields=("instruction", "input")))
    start = cpu()
    out, _ = dedup_table(op, data)
    seconds = cpu() - start
    return n / seconds * 60, out.filter(pc.is_valid(out.column("reason"))).num_rows, data


def datasketch_loop(texts: list[str]) -> float:
    start = cpu()
    for text in texts:
        m = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash32)
        for s in shingles(normalize_batch([text])[0]):
            m.update(s)
    return len(texts) / (cpu() - start) * 60


def quality(n: int = 5000) -> tuple[float, float]:
    texts = instructions(n, seed=7)
    truth = true_pairs(texts)
    _, edges = dedup_table(Dedup(DedupConfig(fields=("instruction",))), table(texts))
    pos = lambda node: int(node.split("\x1f")[1]) - 1  # noqa: E731
    uf = UnionFind()
    for e in edges:
        uf.union(pos(e.a), pos(e.b))
    recall = sum(uf.find(i) == uf.find(j) for i, j in truth) / max(len(truth), 1)
    found = {tuple(sorted((pos(e.a), pos(e.b)))) for e in edges}
    return recall, len(found & truth) / max(len(found), 1)


def index_bytes_per_doc(data: pa.Table) -> float:
    op = Dedup(DedupConfig())
    cfg = op.config
    prepared = batches.prepare(data, fields=cfg.fields, combined=cfg.combined, hasher=op.hasher,
                               keep=cfg.keep, stage="dedup")
    nodes = prepared.filter(pc.is_valid(prepared.column(batches.NODE))).select(list(batches.INTERNAL))
    removed = removal_table(find_edges(op, nodes))
    rows = index_rows(nodes, removed, op.bands, op.rows, op.num_fields, cfg.num_perm)
    with tempfile.TemporaryDirectory() as tmp:
        write_index([rows], tmp, op.params)
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*.parquet"))
    return size / max(data.num_rows, 1)


def parallel_set(lang: str) -> None:
    rows = []
    with gzip.open(PARALLEL, "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            r = json.loads(line)
            rows.append(make_record(r[f"{lang}_instruction"], r[f"{lang}_input"], r[f"{lang}_output"], lang,
                                    f"alpaca_parallel:{i + 1}"))
    data = records_to_table(rows)
    out, _ = dedup_table(Dedup(DedupConfig()), data)
    removed = out.filter(pc.is_valid(out.column("reason")))
    counts = {}
    for reason in removed.column("reason").to_pylist():
        counts[reason] = counts.get(reason, 0) + 1
    print(f"\n## {lang}: {data.num_rows} rows, removed {removed.num_rows} {counts}")
    by_id = {r["id"]: r for r in out.filter(pc.is_null(out.column("reason"))).to_pylist()}
    near = [r for r in removed.to_pylist() if r["reason"] == "near_duplicate"]
    random.Random(0).shuffle(near)
    for r in near[:20 if lang == "en" else 10]:
        detail = json.loads(r["detail"])
        keeper = by_id.get(detail["duplicate_of"], {})
        print(f"  sim={detail['similarity']:.3f}  kept: {keeper.get('instruction', '?')[:70]!r} | "
              f"{keeper.get('input', '')[:30]!r}\n             removed: {r['instruction'][:70]!r} | {r['input'][:30]!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--sample", type=int, default=3000, help="docs for the datasketch loop")
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    dedup_table(Dedup(DedupConfig(fields=("instruction", "input"))), table(instructions(2000, seed=2)))
    print(f"compiled kernels ready in {time.perf_counter() - start:.1f}s (once per process; numba caches the "
          f"machine code on disk, so only a machine's first run compiles)")
    rate, removed, data = end_to_end(args.docs)
    print(f"end to end: {args.docs} docs, {removed} removed, {rate:,.0f} docs per core-minute")
    all_texts = data.column("instruction").to_pylist()
    start = cpu()
    MinHasher().sign_normalized(normalize_batch(all_texts))
    sign_rate = len(all_texts) / (cpu() - start) * 60
    print(f"normalise + signatures only: {sign_rate:,.0f} docs per core-minute")
    texts = all_texts[:args.sample]
    ds_rate = datasketch_loop(texts)
    print(f"datasketch loop: {ds_rate:,.0f} docs per core-minute on {len(texts)} docs")
    per_doc = index_bytes_per_doc(data.slice(0, 20_000))
    print(f"index: {per_doc:,.0f} bytes per document (Parquet)")
    recall, precision = quality()
    print(f"quality (5,000 docs vs exact 5-gram Jaccard >= 0.7): recall={recall:.4f} precision={precision:.4f}")
    if not args.skip_real and PARALLEL.exists():
        for lang in ("en", "zh"):
            parallel_set(lang)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"docs={args.docs} docs_per_core_minute={rate:.0f} ratio_vs_datasketch={rate / ds_rate:.1f} "
          f"recall={recall:.4f} precision={precision:.4f} peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
