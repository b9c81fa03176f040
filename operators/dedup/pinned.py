"""Rows of earlier releases' indexes (`dedup.against`) that can meet this run's rows: a semi-join.

A pinned row takes part in a decision only through a candidate pair with a live row, i.e. when it
shares an LSH bucket (band number and band key) or an exact key with a live row; pairs of two pinned
rows are never formed (graph.py). So each index file is read with pyarrow in one task that keeps
only the rows sharing a band key or an exact key with a live row (the probe), reading signatures
and shingle sets for those rows alone. Every bucket that holds a live row keeps all of its members,
and rows with one exact key have one text, hence one signature and the same band keys: exact
classes come whole, so representatives, candidate pairs, verified edges and kept rows are those of
grouping against every pinned row. Stored duplicate links matter only from the matched unpublished
rows; their keepers are looked up by id.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from operators import storage
from operators.dedup import batches, graph
from operators.dedup.components import PINNED, UNPUBLISHED, Edge, pinned_node
from operators.dedup.index import check_params, read_params
from operators.dedup.lsh import band_keys

LINK_COLUMNS = ("key", "duplicate_of", "reason", "similarity")
LINK_SCHEMA = pa.schema([("release", pa.int32()), ("key", pa.string()), ("duplicate_of", pa.string()),
                         ("reason", pa.string()), ("similarity", pa.float64())])
_MIX = np.uint64(0x9E3779B97F4A7C15)


def index_files(uris, params: dict) -> list[tuple[int, str, str, bool]]:
    """(release number, index URI, file path inside its filesystem, stored band keys usable) per file."""
    from operators.dedup.release import resolve_index_uri
    files = []
    for release, uri in enumerate(uris):
        uri = resolve_index_uri(uri)
        check_params(uri, params)
        found = read_params(uri)
        same_bands = (found.get("bands"), found.get("rows")) == (params["bands"], params["rows"])
        fs, path = storage.filesystem(uri)
        files += [(release, uri, f, same_bands) for f in pads.dataset(path, filesystem=fs, format="parquet").files]
    return files


def probe(key_tables: list[pa.Table]) -> pa.Table:
    """This run's exact keys and band keys (graph.key_rows over every band), in one table."""
    tables = [t.select([batches.EXACT, graph.BANDS]) for t in key_tables if t.num_rows]
    return pa.concat_tables(tables) if tables else pa.table({batches.EXACT: pa.array([], pa.binary())})


def _exact_codes(column) -> np.ndarray:
    """The 16-byte exact key folded into 64 bits (a collision only adds rows: never a wrong result)."""
    chunks = [batches.exact_matrix(c)[:, :2] for c in column.chunks if len(c)]
    keys = np.concatenate(chunks) if chunks else np.empty((0, 2), np.uint64)
    return keys[:, 0] ^ (keys[:, 1] * _MIX)


def _band_matrix(column, bands: int) -> np.ndarray:
    """(rows, bands) uint64 from graph.BANDS (fixed binary) or the index's `bands` (list<uint64>)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_fixed_size_binary(column.type):
        width = column.type.byte_width
        return np.frombuffer(column.buffers()[1], np.uint64, len(column) * bands,
                             column.offset * width).reshape(-1, bands)
    return column.flatten().to_numpy().reshape(-1, bands)


def _member(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """values in reference, by one sort of the (small) reference and a binary search."""
    reference = np.unique(reference)
    if not len(reference):
        return np.zeros(values.shape, bool)
    return reference[np.minimum(np.searchsorted(reference, values), len(reference) - 1)] == values


def _hits(table: pa.Table, probe_table: pa.Table, stored: bool, *, bands, rows, num_fields, num_perm,
          near) -> np.ndarray:
    hit = _member(_exact_codes(table.column("exact")), _exact_codes(probe_table.column(batches.EXACT)))
    if near and graph.BANDS in probe_table.column_names:
        if stored:
            pinned = _band_matrix(table.column("bands"), bands)
        else:  # the index was banded for another threshold: band its signatures as this run does
            sigs = batches.signatures(table.column("signature").combine_chunks(), num_fields, num_perm)
            pinned = band_keys(sigs, bands, rows)
        live = _band_matrix(probe_table.column(graph.BANDS), bands)
        # band keys fold in the band number (lsh.band_keys): one lookup covers every band
        hit |= _member(pinned, live.ravel()).any(axis=1)
    return hit


def _empty_nodes() -> pa.Table:
    return pa.table({name: pa.array([], batches.INTERNAL_TYPES[name]) for name in batches.INTERNAL})


def matches(spec: tuple[int, str, str, bool], probe_table: pa.Table, **params) -> tuple[pa.Table, pa.Table, int]:
    """(graph nodes of the file's rows that can meet a live row, their stored links, how many) of one
    index file; runs as a task, reading the file with pyarrow."""
    release, uri, path, stored = spec
    if not probe_table.num_rows:
        return _empty_nodes(), LINK_SCHEMA.empty_table(), 0
    fs = storage.filesystem(uri)[0]
    parquet = pq.ParquetFile(path, filesystem=fs)
    keys = parquet.read(columns=["exact", "bands" if stored else "signature"])
    found = pa.array(np.flatnonzero(_hits(keys, probe_table, stored, **params)), pa.int64())
    if not len(found):
        return _empty_nodes(), LINK_SCHEMA.empty_table(), 0
    rows = parquet.read(columns=["key", "published", "exact", "signature", "shingles", *LINK_COLUMNS[1:]]).take(found)
    published = rows.column("published")
    prefix = pc.if_else(published, PINNED, UNPUBLISHED)
    names = pc.binary_join_element_wise(prefix, f"{release:04d}", rows.column("key"), "")
    nodes = pa.table({batches.NODE: names, batches.EXACT: rows.column("exact"),
                      batches.SIG: rows.column("signature"), batches.SETS: rows.column("shingles")})
    unpublished = rows.filter(pc.invert(published)).select(list(LINK_COLUMNS))
    links = unpublished.add_column(0, "release", pa.array(np.full(unpublished.num_rows, release, np.int32)))
    return nodes, links.cast(LINK_SCHEMA), len(found)


def link_edges(files: list[tuple[int, str, str, bool]], links: list[pa.Table]) -> list[Edge]:
    """Edges from each matched unpublished row to its keeper (the smallest published node with the
    keeper's id among the releases), read with a filtered scan of the id column."""
    links_table = pa.concat_tables([LINK_SCHEMA.empty_table(), *links])
    if not links_table.num_rows:
        return []
    wanted = pc.unique(links_table.column("duplicate_of").drop_null())
    keepers: dict[str, str] = {}
    for release, uri in sorted({(r, u) for r, u, _, _ in files}):
        fs, path = storage.filesystem(uri)
        found = pads.dataset(path, filesystem=fs, format="parquet").to_table(
            columns=["key", "id"], filter=pc.field("published") & pc.field("id").isin(wanted))
        for key, id_ in zip(found.column("key").to_pylist(), found.column("id").to_pylist()):
            name = pinned_node(key, release, True)
            if id_ not in keepers or name < keepers[id_]:
                keepers[id_] = name
    edges = []
    for r in links_table.to_pylist():
        keeper = keepers.get(r["duplicate_of"])
        if keeper is not None:
            edges.append(Edge(pinned_node(r["key"], r["release"], False), keeper, r["similarity"] or 1.0,
                              r["reason"] == "exact_duplicate"))
    return edges
