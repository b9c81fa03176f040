"""What the report shows, computed from a release's manifest and the figures `scan.py` gathers from
its files (no Ray). Files are read column-wise with pyarrow, one at a time. Nothing here renders;
`page.py` turns these figures into HTML.
"""
from __future__ import annotations

import gzip
import io
import json
import re
from collections import Counter
from typing import Any, Iterable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from operators import storage

COLUMNS = ("id", "instruction", "input", "output", "lang", "source", "meta")
REJECT_COLUMNS = COLUMNS + ("stage", "reason", "detail")
EXAMPLES_PER_REASON = 3
DEDUP_REASONS = ("exact_duplicate", "near_duplicate")
BINS = 24
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def read_table(uri: str, fmt: str, columns: Iterable[str]) -> pa.Table:
    """One file's columns, parsed on the calling thread: what Arrow's worker threads allocate stays in
    their own allocator heaps, out of reach of `release_unused` (scan.each); with them, the report's
    peak grew by ~20 MB from 1 to 16 shards of 10,000 rows (benchmarks/RESULTS.md, batch mode)."""
    data = storage.read_bytes(uri)
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(data), use_threads=False)
    else:
        if uri.endswith(".gz"):
            data = gzip.decompress(data)
        if not data.strip():
            return pa.table({c: pa.array([], pa.string()) for c in columns})
        schema = pa.schema([(c, pa.string()) for c in columns])
        table = pajson.read_json(io.BytesIO(data), parse_options=pajson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"),
            read_options=pajson.ReadOptions(block_size=1 << 24, use_threads=False))
    missing = [c for c in columns if c not in table.column_names]
    for name in missing:
        table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    return table.select(list(columns))


def text_length(text: Optional[str], lang: str) -> int:
    """Characters (without spaces) for Chinese, whitespace-separated words otherwise."""
    if not text:
        return 0
    if lang.startswith("zh"):
        return sum(1 for ch in text if not ch.isspace())
    return len(text.split())


def length_unit(lang: str) -> str:
    return "characters" if lang.startswith("zh") else "words"


def histogram(values: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
    """Integer-aligned bins up to the 99th percentile (longer values fall in the last bin) of the rows whose
    lengths are the sorted distinct `values`, each `counts` times: numpy's percentile, median and mean over
    those rows, from memory bounded by the distinct lengths."""
    values, cum = np.asarray(values, dtype=np.int64), np.cumsum(counts, dtype=np.int64)
    if not values.size:
        return {"edges": [], "counts": [], "n": 0}
    n = int(cum[-1])

    def nth(k: int) -> int:  # the length of the k-th shortest row, from 0
        return int(values[np.searchsorted(cum, k, side="right")])

    top = max(1, int(_percentile(nth, n, 99)))
    width = max(1, -(-top // BINS))
    edges = [i * width for i in range(BINS + 1)]
    binned = np.bincount(np.minimum(values // width, BINS), weights=counts, minlength=BINS + 1).astype(np.int64)
    binned[BINS - 1] += binned[BINS]
    median = float(nth(n // 2)) if n % 2 else (float(nth(n // 2 - 1)) + float(nth(n // 2))) / 2
    mean = float(np.dot(values, np.asarray(counts, dtype=np.int64))) / n  # numpy's mean while the sum < 2**53
    return {"edges": edges, "counts": binned[:BINS].tolist(), "n": n,
            "median": median, "mean": round(mean, 2), "max": int(values[-1])}


def _percentile(nth, n: int, q: float) -> float:
    """numpy.percentile(rows, q) (method "linear", its float operations) from the k-th smallest row."""
    virtual = (n - 1) * (q / 100)
    if virtual >= n - 1:
        return float(nth(n - 1))
    low = int(np.floor(virtual))
    gamma, a, b = virtual - low, float(nth(low)), float(nth(low + 1))
    return b - (b - a) * (1 - gamma) if gamma >= 0.5 else a + (b - a) * gamma


def lengths(values: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """lang -> field -> histogram of instruction / input / output lengths (inputs: non-empty only);
    `values`: lang -> field -> (sorted distinct lengths, rows of each)."""
    return {lang: {f: histogram(*v) for f, v in fields.items()} for lang, fields in sorted(values.items())}


def guess_lang(text: Optional[str]) -> str:
    return "zh" if text and len(_CJK.findall(text)) * 2 > len(text.strip() or "x") else "und"


def language_mix(kept: Counter, dropped: Counter) -> list[dict[str, Any]]:
    return [{"lang": lang, "published": kept[lang], "rejected": dropped[lang]}
            for lang in sorted(set(kept) | set(dropped), key=lambda x: (-kept[x], x))]


def funnel(manifest: dict[str, Any], examples: dict[tuple[str, str], list]) -> list[dict[str, Any]]:
    """Stages with their counts and, per reason, the count and the first three rejected rows."""
    stages = []
    for s in manifest.get("stages", []):
        reasons = sorted((s.get("reasons") or {}).items(), key=lambda x: (-x[1], x[0]))
        stages.append({"name": s.get("name", "?"), "in": s.get("in", 0), "out": s.get("out", 0),
                       "rejected": s.get("rejected", 0),
                       "reasons": [{"reason": r, "count": n, "examples": examples.get((s.get("name"), r), [])}
                                   for r, n in reasons]})
    return stages


def duplicates(manifest: dict[str, Any], pairs: dict[str, list], kept: dict[str, dict]) -> dict[str, Any]:
    """Exact vs near duplicates removed, with example pairs (the removed row and the row kept)."""
    counts = Counter()
    for s in manifest.get("stages", []):
        for reason in DEDUP_REASONS:
            counts[reason] += (s.get("reasons") or {}).get(reason, 0)
    shown = {reason: [{**pair, "kept": kept.get(pair["kept_id"])} for pair in pairs.get(reason, [])]
             for reason in DEDUP_REASONS}
    return {"counts": {r: counts[r] for r in DEDUP_REASONS}, "pairs": shown}


def json_object(text: Optional[str]) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
