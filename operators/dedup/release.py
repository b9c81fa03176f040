"""From a run to its index rows, and from earlier releases' indexes back to graph nodes and edges."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup import batches
from operators.dedup.components import Edge, node_id, pinned_node
from operators import storage
from operators.dedup.index import INDEX_SCHEMA, check_params, index_uri_for, read_index_dataset
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


def _as_nodes(batch: pa.Table, release: int) -> pa.Table:
    published = batch.column("published").to_pylist()
    names = [pinned_node(k, release, p) for k, p in zip(batch.column("key").to_pylist(), published)]
    return pa.table({batches.NODE: pa.array(names, pa.string()), batches.EXACT: batch.column("exact"),
                     batches.SIG: batch.column("signature"), batches.SETS: batch.column("shingles")})


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


def load_releases(uris, params: dict) -> tuple[list, list[Edge]]:
    """Earlier releases as node datasets (pinned: never rejected) and the stored duplicate links."""
    datasets, links = [], []
    for release, uri in enumerate(uris):
        uri = resolve_index_uri(uri)
        check_params(uri, params)
        ds = read_index_dataset(uri).materialize()
        datasets.append(ds.map_batches(_as_nodes, batch_format="pyarrow", fn_kwargs={"release": release}))
        unpublished = ds.filter(expr="published == False").select_columns(
            ["key", "duplicate_of", "reason", "similarity"]).take_all()
        links += [(release, r) for r in unpublished]
    return datasets, _link_edges(datasets, links)


def _link_edges(datasets, links) -> list[Edge]:
    """Edges from each unpublished earlier row to its keeper (looked up by id among the releases)."""
    if not links:
        return []
    wanted = {r["duplicate_of"] for _, r in links}
    keepers: dict[str, str] = {}
    for ds in datasets:
        found = ds.map_batches(_nodes_with_ids, batch_format="pyarrow", fn_kwargs={"ids": wanted})
        for row in found.take_all():
            name = row[batches.NODE]
            if node_id(name) not in keepers or name < keepers[node_id(name)]:
                keepers[node_id(name)] = name
    edges = []
    for release, r in links:
        keeper = keepers.get(r["duplicate_of"])
        if keeper is not None:
            edges.append(Edge(pinned_node(r["key"], release, False), keeper, r["similarity"] or 1.0,
                              r["reason"] == "exact_duplicate"))
    return edges


def _nodes_with_ids(batch: pa.Table, ids: set) -> pa.Table:
    names = batch.column(batches.NODE).to_pylist()
    keep = [n[0] == "0" and node_id(n) in ids for n in names]
    return batch.filter(pa.array(keep, pa.bool_())).select([batches.NODE])
