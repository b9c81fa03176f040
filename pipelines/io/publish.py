"""Publishing a run: staged shards move into place, stale files go, `_manifest.json` comes last.

Until the manifest is written nothing under the output prefix claims to be a dataset: a previous
release's manifest is removed first, and shards only ever appear under `data/` and `rejects/` of
a directory whose manifest lists them.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

import pyarrow.parquet as pq

from operators import storage
from pipelines.io.layout import MANIFEST, STAGING

ALPACA_FIELDS = ("instruction", "input", "output")


def remove_stale(output_uri: str, keep: set[str]) -> None:
    """Delete files under data/ and rejects/ that the new release does not list."""
    for sub in ("data", "rejects"):
        root = storage.join(output_uri, sub)
        if not storage.exists(root):
            continue
        for uri, _ in storage.list_files(root):
            rel = sub + "/" + uri[len(root):].strip("/")
            if rel not in keep:
                storage.delete(uri)


def publish(output_uri: str, staging_uri: str, files: Iterable[dict[str, Any]]) -> None:
    files = list(files)
    manifest_uri = storage.join(output_uri, MANIFEST)
    if storage.exists(manifest_uri):
        storage.delete(manifest_uri)
    remove_stale(output_uri, {f["path"] for f in files})
    for f in files:
        storage.move(storage.join(staging_uri, f["path"]), storage.join(output_uri, f["path"]))


def write_manifest(output_uri: str, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
    storage.write_bytes(storage.join(output_uri, MANIFEST), text.encode("utf-8"))


def clean_staging(output_uri: str) -> None:
    staging = storage.join(output_uri, STAGING)
    if storage.exists(staging):
        storage.delete(staging)


def export_alpaca_json(output_uri: str, shards: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """One JSON list in the alpaca_gpt4_data.json layout, streamed from the published shards."""
    digest, rows, size = hashlib.sha256(), 0, 0
    uri = storage.join(output_uri, name)
    with storage.open_write(uri, binary=True) as out:
        def emit(text: str) -> None:
            nonlocal size
            data = text.encode("utf-8", "surrogatepass")
            digest.update(data)
            size += len(data)
            out.write(data)
        emit("[")
        for row in _iter_rows(output_uri, shards):
            item = {k: row.get(k) or "" for k in ALPACA_FIELDS}
            emit(("\n" if rows == 0 else ",\n") + "  " + json.dumps(item, ensure_ascii=False))
            rows += 1
        emit("\n]\n")
    return {"path": name, "rows": rows, "bytes": size, "sha256": digest.hexdigest(), "format": "alpaca_json"}


def _iter_rows(output_uri: str, shards: list[dict[str, Any]]):
    fmt = shards[0]["format"] if shards else "jsonl"
    for shard in (s for s in shards if s["format"] == fmt):
        uri = storage.join(output_uri, shard["path"])
        if fmt == "parquet":
            fs, path = storage.filesystem(uri)
            for batch in pq.ParquetFile(fs.open_input_file(path)).iter_batches(columns=list(ALPACA_FIELDS)):
                yield from batch.to_pylist()
        else:
            for line in storage.iter_lines(uri):
                yield json.loads(line)
