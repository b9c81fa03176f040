"""The dedup stage's steps in one process over one Arrow table (no Ray): for the benchmark, the
quality test and small jobs. Same batch functions and the same result as `Dedup.apply`; buckets
are grouped with numpy sorts (no Python call per bucket). The cluster test checks that it keeps the
same rows as the distributed stage.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup import batches, kernels, kernels_pairs
from operators.dedup.components import Edge
from operators.dedup.removals import removal_table
from operators.dedup.lsh import band_keys


def _repeated(values: np.ndarray) -> np.ndarray:
    """Values that occur more than once (a plain sort: numpy's hash-based np.unique is far slower
    on 64-bit keys)."""
    ordered = np.sort(values)
    return ordered[1:][ordered[1:] == ordered[:-1]]


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def _group_pairs(keys: np.ndarray, rank: np.ndarray, max_bucket: int, window: int) -> np.ndarray:
    """(k, 2) rank pairs inside equal-key groups, as `batches.pairs` enumerates them."""
    if kernels.ENABLED:
        repeated = _sorted_unique(_repeated(keys))
        if not len(repeated):
            return np.empty((0, 2), np.int64)
        return kernels_pairs.bucket_pairs(np.ascontiguousarray(keys), repeated, np.ascontiguousarray(rank),
                                    max_bucket, window)
    return _group_pairs_numpy(keys, rank, max_bucket, window)


def _group_pairs_numpy(keys: np.ndarray, rank: np.ndarray, max_bucket: int, window: int) -> np.ndarray:
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


def _per_chunk(column: pa.ChunkedArray, compute) -> np.ndarray:
    """compute(chunk) for every chunk, concatenated (no copy of the whole column first)."""
    return np.concatenate([compute(chunk) for chunk in column.chunks])


def _take_rows(column: pa.ChunkedArray, rows: np.ndarray) -> pa.Array:
    """column[rows] for sorted `rows`, chunk by chunk: a take over many chunks would first
    concatenate the whole column (every signature of the dataset)."""
    bounds = np.cumsum([0] + [len(chunk) for chunk in column.chunks])
    cuts = np.searchsorted(rows, bounds)
    pieces = [chunk.take(pa.array(rows[lo:hi] - start))
              for chunk, start, lo, hi in zip(column.chunks, bounds, cuts[:-1], cuts[1:]) if hi > lo]
    return pa.concat_arrays(pieces) if pieces else pa.array([], column.type)


def find_edges(op, nodes: pa.Table) -> list[Edge]:
    """Vectorised twin of the stage's bucket/pair/verify steps for one in-memory table."""
    cfg = op.config
    node_column = nodes.column(batches.NODE)
    n = len(node_column)
    if not n:
        return []
    by_rank = pc.sort_indices(node_column).to_numpy().astype(np.int64)
    rank = np.empty(n, np.int64)
    rank[by_rank] = np.arange(n)
    exact_raw = _per_chunk(nodes.column(batches.EXACT), batches.exact_matrix)[:, :2]
    order = np.lexsort((exact_raw[:, 1], exact_raw[:, 0]))
    new = np.ones(len(order), dtype=bool)
    new[1:] = (exact_raw[order][1:] != exact_raw[order][:-1]).any(axis=1)
    cls = np.empty(len(order), np.int64)
    cls[order] = np.cumsum(new) - 1
    edges: list[Edge] = []
    reps = np.arange(n)
    if cfg.exact:
        order = np.lexsort((rank, cls))
        first = np.concatenate(([True], cls[order][1:] != cls[order][:-1]))
        keeper = order[np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))]
        dup = ~first
        a, b = (node_column.take(pa.array(side[dup])).to_pylist() for side in (keeper, order))
        edges += [Edge(x, y, 1.0, True) for x, y in zip(a, b)]
        reps = np.sort(order[first])
    if cfg.near and len(reps) > 1:
        edges += _near_edges(op, nodes, rank, by_rank, reps)
    return edges


def _near_edges(op, nodes: pa.Table, rank: np.ndarray, by_rank: np.ndarray, reps: np.ndarray) -> list[Edge]:
    """Candidate pairs of exact-class representatives sharing a band bucket, verified."""
    cfg, n = op.config, np.int64(nodes.num_rows)
    keys = np.concatenate([band_keys(batches.signatures(chunk, op.num_fields, cfg.num_perm), op.bands, op.rows).T
                           for chunk in nodes.column(batches.SIG).chunks], axis=1)  # (bands, nodes)
    if len(reps) < n:
        keys = keys[:, reps]
    found = [_group_pairs(keys[band], rank[reps], cfg.max_bucket, cfg.window) for band in range(op.bands)]
    codes = _sorted_unique(np.concatenate(found) @ np.array([n, 1], np.int64))
    if not len(codes):
        return []
    row_a, row_b = by_rank[codes // n], by_rank[codes % n]
    involved = _sorted_unique(np.concatenate((row_a, row_b)))
    take_a, take_b = (pa.array(np.searchsorted(involved, rows)) for rows in (row_a, row_b))
    both = {}
    for name, column in (("", batches.NODE), ("sig_", batches.SIG), ("exact_", batches.EXACT),
                         ("sets_", batches.SETS)):
        candidates = _take_rows(nodes.column(column), involved)
        both[f"{name}a"], both[f"{name}b"] = candidates.take(take_a), candidates.take(take_b)
    done = batches.verify(pa.table(both), threshold=cfg.threshold, num_fields=op.num_fields,
                          num_perm=cfg.num_perm, numbers=cfg.numbers)
    return [Edge(a, b, s, e) for a, b, e, s in zip(
        done.column("a").to_pylist(), done.column("b").to_pylist(), done.column("exact").to_pylist(),
        done.column("similarity").to_pylist())]


def dedup_table(op, table: pa.Table, batch_size: int | None = None) -> tuple[pa.Table, list[Edge]]:
    """Run the Dedup operator `op` on `table` in this process, in batches of the stage's size;
    returns (marked table, edges)."""
    cfg = op.config
    batch_size = batch_size or cfg.batch_size
    parts = [batches.prepare(table.slice(lo, batch_size), fields=cfg.fields, combined=cfg.combined,
                             hasher=op.hasher, keep=cfg.keep, stage=op.stage)
             for lo in range(0, max(table.num_rows, 1), batch_size)]
    prepared = pa.concat_tables(parts)
    nodes = prepared.select(list(batches.INTERNAL))
    if nodes.column(batches.NODE).null_count:  # a filter copies every signature; skip it when all are signed
        nodes = nodes.filter(pc.is_valid(nodes.column(batches.NODE)))
    edges = find_edges(op, nodes)
    removed = removal_table(edges)
    return batches.mark(prepared, removed, op.stage), edges
