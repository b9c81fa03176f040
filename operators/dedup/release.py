"""From a run to its index rows; where a published release keeps its index (reading it back: pinned.py)."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup import batches
from operators.dedup.components import node_id
from operators import storage
from operators.dedup.index import INDEX_SCHEMA, index_uri_for
from operators.dedup.lsh import band_keys


def index_rows(nodes: pa.Table, removed, bands: int, rows: int, num_fields: int, num_perm: int) -> pa.Table:
    """Index rows for the signed nodes of this run, given the run's removal table."""
    import ray
    removed = ray.get(removed) if isinstance(removed, ray.ObjectRef) else removed
    names = nodes.column(batches.NODE)
    pos = pc.index_in(names, value_set=removed.column("node"))
    hit = pc.is_valid(pos).to_numpy(zero_copy_only=False)
    details = removed.column("detail").take(pos).to_pylist()
    reasons = removed.column("reason").take(pos)
    keys = band_keys(batches.signatures(nodes.column(batches.SIG), num_fields, num_perm), bands, rows) \
        if nodes.num_rows else np.empty((0, bands), np.uint64)
    parsed = [json.loads(d) if d else {} for d in details]
    return pa.table({
        "key": pc.utf8_slice_codeunits(names, 1),
        "id": pa.array([node_id(n) for n in names.to_pylist()], pa.string()),
        "exact": nodes.column(batches.EXACT), "signature": nodes.column(batches.SIG),
        "shingles": nodes.column(batches.SETS),
        "bands": pa.array(list(keys), pa.list_(pa.uint64())),
        "published": pa.array(~hit),
        "duplicate_of": pa.array([p.get("duplicate_of") for p in parsed], pa.string()),
        "reason": reasons,
        "similarity": pa.array([p.get("similarity") for p in parsed], pa.float64()),
    }, schema=INDEX_SCHEMA)


def resolve_index_uri(uri: str) -> str:
    """An index URI as given, or the index a published release's manifest lists (a directory with one)."""
    manifest_uri = storage.join(uri, "_manifest.json")
    if not storage.exists(manifest_uri):
        return uri
    manifest = json.loads(storage.read_bytes(manifest_uri).decode("utf-8"))
    for artifact in manifest.get("artifacts", []):
        if artifact.get("kind") == "dedup_index":
            return storage.join(uri, artifact["path"])
    return index_uri_for(uri)
