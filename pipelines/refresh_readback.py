"""What a staged release settled: read back from its shards and rejects before the commit.

A row is settled when it was published or rejected for a reason that a rerun would repeat; rows
rejected because the endpoint failed or the budget ran out (`budget_exhausted`,
`retries_exhausted:5xx`, ...) are not, so the next refresh asks for them again (cached answers free).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterator

import json

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from operators import storage
from operators.llm.breaker import is_infra

RETRY_REASONS = {"budget_exhausted"}


def retryable(reason: str | None) -> bool:
    return reason in RETRY_REASONS or is_infra(reason)


def label_of(source: str) -> str:
    """`uri:line` or `uri:line#n` -> the input file's label."""
    return source.rsplit(":", 1)[0] if ":" in source else source


def read_id(id_: str, meta: str | None) -> str:
    """The id the row had when it was read (a translated row carries it as `meta.translated_from`)."""
    if meta and '"translated_from"' in meta:
        return json.loads(meta).get("translated_from") or id_
    return id_


def _tables(uri: str, fmt: str, columns: list[str]) -> Iterator[pa.Table]:
    fs, path = storage.filesystem(uri)
    if fmt == "parquet":
        yield pq.read_table(path, filesystem=fs, columns=columns)
        return
    schema = pa.schema([(c, pa.string()) for c in columns])
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    with fs.open_input_stream(path, compression="gzip") as handle:
        yield pajson.read_json(handle, parse_options=options)


def settled_rows(staging: str, manifest: dict[str, Any]) -> tuple[list[str], Counter, Counter]:
    """(settled ids, rows per input label, unsettled rows per input label) of a staged release."""
    ids: list[str] = []
    rows: Counter = Counter()
    unsettled: Counter = Counter()
    shards = manifest["shards"]
    fmt = shards[0]["format"] if shards else "jsonl"
    for shard in (s for s in shards if s["format"] == fmt):
        for table in _tables(storage.join(staging, shard["path"]), fmt, ["id", "source", "meta"]):
            ids += map(read_id, table.column("id").to_pylist(), table.column("meta").to_pylist())
            rows.update(label_of(s or "") for s in table.column("source").to_pylist())
    for entry in manifest["rejects"]:
        for table in _tables(storage.join(staging, entry["path"]), "jsonl", ["id", "source", "reason", "meta"]):
            columns = (table.column(c).to_pylist() for c in ("id", "source", "reason", "meta"))
            for id_, source, reason, meta in zip(*columns):
                label = label_of(source or "")
                rows[label] += 1
                if retryable(reason):
                    unsettled[label] += 1
                else:
                    ids.append(read_id(id_, meta))
    return ids, rows, unsettled
