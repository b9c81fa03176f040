"""What the report shows, computed from a release's manifest and the files it lists (no Ray).

Rows are read column-wise with pyarrow: the published shards (Parquet when the release has it, else
JSONL) and the reject files. Nothing here renders; `page.py` turns these figures into HTML.
"""
from __future__ import annotations

import gzip
import io
import json
import re
from collections import Counter, defaultdict
from typing import Any, Iterable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
    data = storage.read_bytes(uri)
    if fmt == "parquet":
        table = pq.read_table(io.BytesIO(data))
    else:
        if uri.endswith(".gz"):
            data = gzip.decompress(data)
        if not data.strip():
            return pa.table({c: pa.array([], pa.string()) for c in columns})
        schema = pa.schema([(c, pa.string()) for c in columns])
        table = pajson.read_json(io.BytesIO(data), parse_options=pajson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"),
            read_options=pajson.ReadOptions(block_size=1 << 24))
    missing = [c for c in columns if c not in table.column_names]
    for name in missing:
        table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    return table.select(list(columns))


def release_rows(root: str, manifest: dict[str, Any]) -> pa.Table:
    """Every published row, from one format of the listed shards (Parquet reads fastest)."""
    formats = {s.get("format", "jsonl") for s in manifest.get("shards", [])}
    fmt = "parquet" if "parquet" in formats else "jsonl"
    tables = [read_table(storage.join(root, s["path"]), fmt, COLUMNS) for s in manifest.get("shards", [])
              if s.get("format", "jsonl") == fmt]
    return _concat(tables, COLUMNS)


def reject_rows(root: str, manifest: dict[str, Any]) -> pa.Table:
    tables = [read_table(storage.join(root, r["path"]), r.get("format", "jsonl"), REJECT_COLUMNS)
              for r in manifest.get("rejects", [])]
    return _concat(tables, REJECT_COLUMNS)


def _concat(tables: list[pa.Table], columns: Iterable[str]) -> pa.Table:
    if not tables:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return pa.concat_tables(tables, promote_options="permissive")


def text_length(text: Optional[str], lang: str) -> int:
    """Characters (without spaces) for Chinese, whitespace-separated words otherwise."""
    if not text:
        return 0
    if lang.startswith("zh"):
        return sum(1 for ch in text if not ch.isspace())
    return len(text.split())


def length_unit(lang: str) -> str:
    return "characters" if lang.startswith("zh") else "words"


def histogram(values: list[int]) -> dict[str, Any]:
    """Integer-aligned bins up to the 99th percentile; longer values fall in the last bin."""
    if not values:
        return {"edges": [], "counts": [], "n": 0}
    arr = np.asarray(values)
    top = max(1, int(np.percentile(arr, 99)))
    width = max(1, -(-top // BINS))
    edges = [i * width for i in range(BINS + 1)]
    counts = np.bincount(np.minimum(arr // width, BINS), minlength=BINS + 1)
    counts[BINS - 1] += counts[BINS]
    return {"edges": edges, "counts": counts[:BINS].tolist(), "n": len(values),
            "median": float(np.median(arr)), "mean": round(float(arr.mean()), 2), "max": int(arr.max())}


def lengths(rows: pa.Table) -> dict[str, dict[str, Any]]:
    """lang -> field -> histogram of instruction / input / output lengths (inputs: non-empty only)."""
    per: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"instruction": [], "input": [], "output": []})
    langs = [lang or guess_lang(text) for lang, text in zip(rows.column("lang").to_pylist(),
                                                            rows.column("instruction").to_pylist())]
    for field in ("instruction", "input", "output"):
        for lang, text in zip(langs, rows.column(field).to_pylist()):
            if field != "input" or text:
                per[lang][field].append(text_length(text, lang))
    return {lang: {f: histogram(v) for f, v in fields.items()} for lang, fields in sorted(per.items())}


def guess_lang(text: Optional[str]) -> str:
    return "zh" if text and len(_CJK.findall(text)) * 2 > len(text.strip() or "x") else "und"


def language_mix(rows: pa.Table, rejects: pa.Table) -> list[dict[str, Any]]:
    kept = Counter(lang or "und" for lang in rows.column("lang").to_pylist())
    dropped = Counter(lang or "und" for lang in rejects.column("lang").to_pylist())
    return [{"lang": lang, "published": kept[lang], "rejected": dropped[lang]}
            for lang in sorted(set(kept) | set(dropped), key=lambda x: (-kept[x], x))]


def funnel(manifest: dict[str, Any], rejects: pa.Table) -> list[dict[str, Any]]:
    """Stages with their counts and, per reason, the count and the first three rejected rows."""
    examples: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rejects.select(["stage", "reason", "instruction", "input", "output", "source", "detail"]).to_pylist():
        key = (row["stage"] or "", row["reason"] or "")
        if len(examples[key]) < EXAMPLES_PER_REASON:
            examples[key].append(row)
    stages = []
    for s in manifest.get("stages", []):
        reasons = sorted((s.get("reasons") or {}).items(), key=lambda x: (-x[1], x[0]))
        stages.append({"name": s.get("name", "?"), "in": s.get("in", 0), "out": s.get("out", 0),
                       "rejected": s.get("rejected", 0),
                       "reasons": [{"reason": r, "count": n, "examples": examples.get((s.get("name"), r), [])}
                                   for r, n in reasons]})
    return stages


def duplicates(manifest: dict[str, Any], rows: pa.Table, rejects: pa.Table) -> dict[str, Any]:
    """Exact vs near duplicates removed, with example pairs (the removed row and the row kept)."""
    counts = Counter()
    for s in manifest.get("stages", []):
        for reason in DEDUP_REASONS:
            counts[reason] += (s.get("reasons") or {}).get(reason, 0)
    dup = rejects.filter(pc.is_in(rejects.column("reason"), pa.array(DEDUP_REASONS)))
    wanted: dict[str, list[dict[str, Any]]] = {r: [] for r in DEDUP_REASONS}
    for row in dup.select(["reason", "instruction", "input", "detail"]).to_pylist():
        if len(wanted[row["reason"]]) < EXAMPLES_PER_REASON:
            detail = _json(row["detail"])
            wanted[row["reason"]].append({"removed": row, "kept_id": detail.get("duplicate_of"),
                                          "similarity": detail.get("similarity")})
    ids = {p["kept_id"] for pairs in wanted.values() for p in pairs if p["kept_id"]}
    kept = _rows_by_id([rows, rejects], ids)
    for pairs in wanted.values():
        for pair in pairs:
            pair["kept"] = kept.get(pair["kept_id"])
    return {"counts": {r: counts[r] for r in DEDUP_REASONS}, "pairs": wanted}


def _rows_by_id(tables: list[pa.Table], ids: set) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if not ids:
        return found
    for table in tables:
        hit = table.filter(pc.is_in(table.column("id"), pa.array(sorted(ids), pa.string())))
        for row in hit.select(["id", "instruction", "input"]).to_pylist():
            found.setdefault(row["id"], row)
    return found


def _json(text: Optional[str]) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
