"""Duplicate edges from prepared rows, in steps over Arrow tables that an engine can spread over blocks:

key_rows   signed nodes -> node, exact key, LSH band keys of one band group (no signatures: small)
candidates every node's key rows -> exact edges + candidate pairs between exact-class representatives
sig_rows   signed nodes named in a candidate pair -> their signatures, exact keys and shingle sets
verified   candidate pairs + both rows' signatures -> exact edges and verified near edges

Buckets are grouped by sorting whole columns (no Python call per bucket). Exact edges come from the
first band group only, so running the bands in several groups gives the same edges as one group.
The in-process path (local.py) and the Ray stage (stage.py) compose the same steps.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup import batches, kernels, kernels_pairs
from operators.dedup.components import LIVE, Edge
from operators.dedup.lsh import band_keys

BANDS = "_dd_bands"
SIG_COLUMNS = (batches.NODE, batches.SIG, batches.EXACT, batches.SETS)


def band_slices(bands: int, groups: int) -> list[tuple[int, int]]:
    """`groups` contiguous ranges of band numbers covering 0..bands."""
    groups = max(1, min(groups, bands))
    cuts = np.linspace(0, bands, groups + 1).round().astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(cuts[:-1], cuts[1:])]


def key_rows(nodes: pa.Table, *, bands: int, rows: int, num_fields: int, num_perm: int, near: bool,
             band_range: tuple[int, int]) -> pa.Table:
    """Node, exact key and the band keys `band_range` of every signed node (uint64 as fixed binary)."""
    lo, hi = band_range
    width = (hi - lo) * 8 if near else 0
    columns = {batches.NODE: nodes.column(batches.NODE), batches.EXACT: nodes.column(batches.EXACT)}
    if width and nodes.num_rows:
        keys = np.concatenate([band_keys(batches.signatures(chunk, num_fields, num_perm), bands, rows)[:, lo:hi]
                               for chunk in nodes.column(batches.SIG).chunks if len(chunk)])
        data = pa.py_buffer(np.ascontiguousarray(keys).tobytes())
        columns[BANDS] = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(keys), [None, data])
    else:
        columns[BANDS] = pa.nulls(nodes.num_rows, pa.binary(max(width, 1)))
    return pa.table(columns)


def _repeated(values: np.ndarray) -> np.ndarray:
    """Values that occur more than once (a sort: numpy's hash-based unique is slower on 64-bit keys)."""
    ordered = np.sort(values)
    return ordered[1:][ordered[1:] == ordered[:-1]]


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def group_pairs(keys: np.ndarray, rank: np.ndarray, max_bucket: int, window: int) -> np.ndarray:
    """(k, 2) rank pairs inside equal-key groups: all pairs up to `max_bucket` members, beyond that
    each member with its `window` successors and with the first."""
    if kernels.ENABLED:
        repeated = _sorted_unique(_repeated(keys))
        if not len(repeated):
            return np.empty((0, 2), np.int64)
        return kernels_pairs.bucket_pairs(np.ascontiguousarray(keys), repeated, np.ascontiguousarray(rank),
                                          max_bucket, window)
    return group_pairs_numpy(keys, rank, max_bucket, window)


def group_pairs_numpy(keys: np.ndarray, rank: np.ndarray, max_bucket: int, window: int) -> np.ndarray:
    repeated = _sorted_unique(_repeated(keys))
    if not len(repeated):
        return np.empty((0, 2), np.int64)
    shared = repeated[np.minimum(np.searchsorted(repeated, keys), len(repeated) - 1)] == keys
    keys, rank = keys[shared], rank[shared]  # only keys held by two or more rows
    order = np.lexsort((rank, keys))
    k, r = keys[order], rank[order]
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    sizes = np.diff(np.concatenate((starts, [len(k)])))
    end = np.repeat(starts + sizes, sizes)
    first = np.repeat(starts, sizes)
    big = np.repeat(sizes > max_bucket, sizes)
    pos = np.arange(len(k))
    out = []
    for d in range(1, int(sizes.max(initial=1))):
        reach = (pos + d < end) & (~big | (d <= window))
        out.append(np.stack((r[pos[reach]], r[pos[reach] + d]), axis=1))
        if not reach.any() and d > window:
            break
    star = big & (pos > first)
    out.append(np.stack((r[first[star]], r[pos[star]]), axis=1))
    return np.concatenate(out) if out else np.empty((0, 2), np.int64)


def _pairs_table(names: pa.Array, row_a: np.ndarray, row_b: np.ndarray, exact: bool) -> pa.Table:
    live = np.asarray(pc.starts_with(names, LIVE), bool) if len(names) else np.zeros(0, bool)
    keep = live[row_a] | live[row_b]  # two rows of earlier releases are never compared again
    row_a, row_b, n = row_a[keep], row_b[keep], int(keep.sum())
    return pa.table({"a": names.take(pa.array(row_a, pa.int64())), "b": names.take(pa.array(row_b, pa.int64())),
                     "exact": pa.array(np.full(n, exact)), "verified": pa.array(np.full(n, exact)),
                     "similarity": pa.array(np.ones(n) if exact else np.full(n, np.nan), pa.float64())},
                    schema=batches.PAIR_SCHEMA)


def candidates(tables: Sequence[pa.Table], *, exact: bool, near: bool, first_group: bool, max_bucket: int,
               window: int) -> pa.Table:
    """Exact edges (verified, when `first_group`) and unverified candidate pairs of one band group."""
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return batches.PAIR_SCHEMA.empty_table()
    keys_table = pa.concat_tables(tables)
    names = keys_table.column(batches.NODE).combine_chunks()
    n = len(names)
    by_rank = pc.sort_indices(names).to_numpy().astype(np.int64)
    rank = np.empty(n, np.int64)
    rank[by_rank] = np.arange(n)
    exact_raw = np.concatenate([batches.exact_matrix(c) for c in keys_table.column(batches.EXACT).chunks])[:, :2]
    out = []
    reps = np.arange(n)
    if exact:
        order = np.lexsort((rank, exact_raw[:, 1], exact_raw[:, 0]))
        ordered = exact_raw[order]
        first = np.concatenate(([True], (ordered[1:] != ordered[:-1]).any(axis=1)))
        keeper = order[np.maximum.accumulate(np.where(first, np.arange(n), 0))]
        if first_group:
            out.append(_pairs_table(names, keeper[~first], order[~first], True))
        reps = np.sort(order[first])
    if near and len(reps) > 1:
        out.append(_near_candidates(keys_table, names, rank, by_rank, reps, max_bucket, window))
    return pa.concat_tables(out) if out else batches.PAIR_SCHEMA.empty_table()


def _near_candidates(keys_table: pa.Table, names: pa.Array, rank: np.ndarray, by_rank: np.ndarray,
                     reps: np.ndarray, max_bucket: int, window: int) -> pa.Table:
    width = keys_table.schema.field(BANDS).type.byte_width
    bands = width // 8
    keys = np.concatenate([np.frombuffer(c.buffers()[1], np.uint64, len(c) * bands, c.offset * width)
                           for c in keys_table.column(BANDS).chunks if len(c)]).reshape(-1, bands)
    keys = np.ascontiguousarray(keys[reps].T)  # (bands, representatives)
    found = [group_pairs(keys[band], rank[reps], max_bucket, window) for band in range(bands)]
    n = np.int64(len(names))
    codes = _sorted_unique(np.concatenate(found) @ np.array([n, 1], np.int64))
    return _pairs_table(names, by_rank[codes // n], by_rank[codes % n], False)


def sig_rows(nodes: pa.Table, pairs: pa.Table) -> pa.Table:
    """The signature columns of the nodes named by an unverified pair."""
    open_pairs = pairs.filter(pc.invert(pairs.column("verified")))
    if not open_pairs.num_rows or not nodes.num_rows:
        return nodes.select(list(SIG_COLUMNS)).slice(0, 0)
    wanted = pc.unique(pa.concat_arrays([open_pairs.column("a").combine_chunks(),
                                         open_pairs.column("b").combine_chunks()]))
    return nodes.select(list(SIG_COLUMNS)).filter(pc.is_in(nodes.column(batches.NODE), value_set=wanted))


def verified(pairs: pa.Table, sigs: Sequence[pa.Table], *, threshold: float, num_fields: int, num_perm: int,
             numbers: bool) -> pa.Table:
    """Exact edges as they are, candidate pairs kept where both rows are near-duplicates."""
    done = pairs.filter(pairs.column("verified"))
    open_pairs = pairs.filter(pc.invert(pairs.column("verified")))
    sigs = [t for t in sigs if t.num_rows]
    if not open_pairs.num_rows or not sigs:
        return done
    table = pa.concat_tables(sigs)
    names = table.column(batches.NODE).combine_chunks()
    both = {}
    for side in ("a", "b"):
        at = pc.index_in(open_pairs.column(side), value_set=names)
        for prefix, column in (("", batches.NODE), ("sig_", batches.SIG), ("exact_", batches.EXACT),
                               ("sets_", batches.SETS)):
            both[f"{prefix}{side}"] = table.column(column).take(at)
    near = batches.verify(pa.table(both), threshold=threshold, num_fields=num_fields, num_perm=num_perm,
                          numbers=numbers)
    return pa.concat_tables([done, near])


def to_edges(tables: Sequence[pa.Table]) -> list[Edge]:
    return [Edge(a, b, s, e) for t in tables for a, b, e, s in zip(
        t.column("a").to_pylist(), t.column("b").to_pylist(), t.column("exact").to_pylist(),
        t.column("similarity").to_pylist())]
