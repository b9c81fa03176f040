"""The persistent dedup index: signatures and band keys of a release, as Parquet beside it.

One row per row the dedup stage signed in that run: `key` (its sortable input position, id last),
`id`, `exact` (16-byte exact key), `signature` (fields x num_perm uint32, little endian),
`shingles` (per field: uint32 count + sorted unique fmix32-mixed shingle hashes, for exact verification), `bands`
(the LSH band keys), `published` (false for rows removed as duplicates) and, for removed rows,
`duplicate_of` (keeper id), `reason` and `similarity`. Unpublished rows are kept so that a later
batch deduplicated against the index links through them exactly as a combined run would.
The signing parameters are stored in the Parquet schema metadata and checked on load.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.dataset as pads

from operators import storage

META_KEY = b"instructpipe.dedup"
INDEX_DIRNAME = "_dedup_index"
EXACT_KEY_VERSION = 2  # 2: vectorised byte hash (columns.exact_keys); indexes of other versions are refused
INDEX_SCHEMA = pa.schema([
    ("key", pa.string()), ("id", pa.string()), ("exact", pa.binary()), ("signature", pa.binary()),
    ("shingles", pa.binary()),
    ("bands", pa.list_(pa.uint64())), ("published", pa.bool_()), ("duplicate_of", pa.string()),
    ("reason", pa.string()), ("similarity", pa.float64()),
])


class IndexMismatch(ValueError):
    """An index was built with signing parameters different from this run's."""


def index_uri_for(output_uri: str) -> str:
    """Where the index of a dataset published at `output_uri` lives."""
    return storage.join(output_uri, INDEX_DIRNAME)


def with_params(table: pa.Table, params: dict[str, Any]) -> pa.Table:
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps(params, sort_keys=True).encode()
    return table.cast(INDEX_SCHEMA).replace_schema_metadata(meta)


def write_index(data, uri: str, params: dict[str, Any] | None = None) -> str:
    """Write index rows (a Ray Dataset or an iterable of Arrow tables) as Parquet under `uri`.

    A Ray Dataset is written by its workers (`write_parquet`); tables are written from here.
    The parameters are taken from the tables' schema metadata when not given.
    """
    fs, path = storage.filesystem(uri)
    fs.create_dir(path, recursive=True)
    if hasattr(data, "write_parquet"):
        data = data.map_batches(lambda t: with_params(t, params), batch_format="pyarrow") if params else data
        data.write_parquet(path, filesystem=fs)
        return uri
    for n, table in enumerate(_tables(data)):
        table = with_params(table, params) if params else table
        pads.write_dataset(table, path, format="parquet", filesystem=fs,
                           basename_template=f"index-{n:05d}-{{i}}.parquet",
                           existing_data_behavior="overwrite_or_ignore")
    return uri


def _tables(data) -> Iterable[pa.Table]:
    return [data] if isinstance(data, pa.Table) else data


def read_params(uri: str) -> dict[str, Any]:
    fs, path = storage.filesystem(uri)
    schema = pads.dataset(path, filesystem=fs, format="parquet").schema
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise IndexMismatch(f"{uri} is not a dedup index (no {META_KEY.decode()} metadata)")
    return json.loads(raw)


def check_params(uri: str, expected: dict[str, Any]) -> None:
    found = read_params(uri)
    keys = ("num_perm", "seed", "ngram", "unit", "fields", "combined", "exact_key")
    diff = {k: (found.get(k), expected.get(k)) for k in keys if found.get(k) != expected.get(k)}
    if diff:
        raise IndexMismatch(f"index {uri} was signed differently (found, expected): {diff}")


def read_index_table(uri: str, columns: list[str] | None = None) -> pa.Table:
    """The whole index in this process (for the query pool and small indexes)."""
    fs, path = storage.filesystem(uri)
    return pads.dataset(path, filesystem=fs, format="parquet").to_table(columns=columns)
