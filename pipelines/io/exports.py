"""The alpaca_gpt4_data.json-style export, streamed from the staged shards into staging.

It is published like a shard: under `exports/<sha12>/<name>`, so a new export never overwrites the
one the live manifest lists.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow.parquet as pq

from operators import storage

ALPACA_FIELDS = ("instruction", "input", "output")


def export_alpaca_json(staging_uri: str, shards: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """Writes the export into staging; returns its manifest entry (the path it will be published at)."""
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
        for row in _iter_rows(staging_uri, shards):
            item = {k: row.get(k) or "" for k in ALPACA_FIELDS}
            emit(("\n" if rows == 0 else ",\n") + "  " + json.dumps(item, ensure_ascii=False))
            rows += 1
        emit("\n]\n")
    sha = digest.hexdigest()
    path = f"exports/{sha[:12]}/{name}"
    storage.move(uri, storage.join(staging_uri, path))
    return {"path": path, "rows": rows, "bytes": size, "sha256": sha, "format": "alpaca_json"}


def _iter_rows(root_uri: str, shards: list[dict[str, Any]]):
    fmt = shards[0]["format"] if shards else "jsonl"
    for shard in (s for s in shards if s["format"] == fmt):
        uri = storage.join(root_uri, shard["path"])
        if fmt == "parquet":
            fs, path = storage.filesystem(uri)
            for batch in pq.ParquetFile(fs.open_input_file(path)).iter_batches(columns=list(ALPACA_FIELDS)):
                yield from batch.to_pylist()
        else:
            for line in storage.iter_lines(uri):
                yield json.loads(line)
