"""JSON exports streamed from the staged shards into staging: the alpaca_gpt4_data.json layout, the
Self-Instruct seed-task layout (id, instruction, instances, is_classification), and the feedback
layouts (operators/feedback/layouts.py: v2, v1, preference pairs) of `output.exports`.

An export is published like a shard: under `exports/<sha12>/<name>`, so a new export never overwrites
the one the live manifest lists.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Iterator

import pyarrow.parquet as pq

from operators import storage
from operators.feedback import layouts
from operators.schema import loads_meta

ALPACA_FIELDS = ("instruction", "input", "output")
SELF_INSTRUCT_FIELDS = ("id", "instruction", "input", "output", "meta")
FEEDBACK_FIELDS = ("instruction", "input", "output", "meta", "candidates", "comparisons")


def export_alpaca_json(staging_uri: str, shards: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Writes the export into staging; returns its manifest entry (the path it will be published at)."""
    rows = ({k: row.get(k) or "" for k in ALPACA_FIELDS} for row in iter_rows(staging_uri, shards, ALPACA_FIELDS))
    return write_json_array(staging_uri, name, rows, "alpaca_json")


def export_self_instruct_json(staging_uri: str, shards: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """One task per row in the layout of Self-Instruct's seed tasks (readable as `source.seeds`)."""
    rows = (self_instruct_task(row) for row in iter_rows(staging_uri, shards, SELF_INSTRUCT_FIELDS))
    return write_json_array(staging_uri, name, rows, "self_instruct_json")


def self_instruct_task(row: dict[str, Any]) -> dict[str, Any]:
    """The task's instances from meta.instances (self_instruct sources), else the row's own input/output."""
    meta = loads_meta(row.get("meta"))
    instances = meta.get("instances") or [{"input": row.get("input") or "", "output": row.get("output") or ""}]
    return {"id": row.get("id"), "instruction": row.get("instruction") or "",
            "instances": [{"input": i.get("input") or "", "output": i.get("output") or ""} for i in instances],
            "is_classification": bool(meta.get("is_classification"))}


def export_feedback(staging_uri: str, shards: list[dict[str, Any]], spec: Any) -> dict[str, Any]:
    """One `output.exports` entry (name, layout, pairs_from, min_margin) in its layout."""
    rows = iter_rows(staging_uri, shards, FEEDBACK_FIELDS)
    items = (item for row in rows for item in layouts.items(row, spec.layout, spec.pairs_from, spec.min_margin))
    return write_json_array(staging_uri, spec.name, items, spec.layout)


def write_json_array(staging_uri: str, name: str, items: Iterable[dict[str, Any]], fmt: str) -> dict[str, Any]:
    digest, rows, size = hashlib.sha256(), 0, 0
    uri = storage.join(staging_uri, "exports", "pending", name)
    with storage.open_write(uri, binary=True) as out:
        def emit(text: str) -> None:
            nonlocal size
            data = text.encode("utf-8", "surrogatepass")
            digest.update(data)
            size += len(data)
            out.write(data)
        emit("[")
        for item in items:
            emit(("\n" if rows == 0 else ",\n") + "  " + json.dumps(item, ensure_ascii=False))
            rows += 1
        emit("\n]\n")
    sha = digest.hexdigest()
    path = f"exports/{sha[:12]}/{name}"
    storage.move(uri, storage.join(staging_uri, path))
    return {"path": path, "rows": rows, "bytes": size, "sha256": sha, "format": fmt}


def iter_rows(root_uri: str, shards: list[dict[str, Any]], columns: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The published rows (from one format's shards), with the given columns where a shard has them."""
    fmt = shards[0]["format"] if shards else "jsonl"
    for shard in (s for s in shards if s["format"] == fmt):
        uri = storage.join(root_uri, shard["path"])
        if fmt == "parquet":
            fs, path = storage.filesystem(uri)
            parquet = pq.ParquetFile(fs.open_input_file(path))
            present = [c for c in columns if c in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(columns=present):
                yield from batch.to_pylist()
        else:
            for line in storage.iter_lines(uri):
                yield json.loads(line)
