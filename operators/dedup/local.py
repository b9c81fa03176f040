"""The dedup stage's steps in one process over one Arrow table (no Ray): for the benchmark, the
quality test and small jobs. Same batch functions and the same result as `Dedup.apply`; buckets
are grouped with numpy sorts (no Python call per bucket). The cluster test checks that it keeps the
same rows as the distributed stage.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup import batches
from operators.dedup.components import Edge, resolve
from operators.dedup.lsh import band_keys


def _group_pairs(keys: np.ndarray, rank: np.ndarray, max_bucket: int, window: int) -> np.ndarray:
    """(k, 2) rank pairs inside equal-key groups, as `batches.pairs` enumerates them."""
    order = np.argsort(keys)
    ks = keys[order]
    shared = np.zeros(len(ks), dtype=bool)
    shared[1:] = ks[1:] == ks[:-1]
    shared[:-1] |= shared[1:]
    if not shared.any():
        return np.empty((0, 2), np.int64)
    keys, rank = ks[shared], rank[order[shared]]  # only keys held by two or more rows
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


def find_edges(op, nodes: pa.Table) -> list[Edge]:
    """Vectorised twin of the stage's bucket/pair/verify steps for one in-memory table."""
    cfg = op.config
    node_column = nodes.column(batches.NODE)
    if not len(node_column):
        return []
    names = node_column.to_pylist()
    by_rank = pc.sort_indices(node_column).to_numpy()
    rank = np.empty(len(names), np.int64)
    rank[by_rank] = np.arange(len(names))
    exact_raw = batches.exact_matrix(nodes.column(batches.EXACT))[:, :2]
    order = np.lexsort((exact_raw[:, 1], exact_raw[:, 0]))
    new = np.ones(len(order), dtype=bool)
    new[1:] = (exact_raw[order][1:] != exact_raw[order][:-1]).any(axis=1)
    cls = np.empty(len(order), np.int64)
    cls[order] = np.cumsum(new) - 1
    edges: list[Edge] = []
    reps = np.arange(len(names))
    if cfg.exact:
        order = np.lexsort((rank, cls))
        first = np.concatenate(([True], cls[order][1:] != cls[order][:-1]))
        keeper = order[np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))]
        dup = ~first
        edges += [Edge(names[a], names[b], 1.0, True) for a, b in zip(keeper[dup].tolist(), order[dup].tolist())]
        reps = np.sort(order[first])
    if cfg.near and len(reps) > 1:
        sigs = batches.signatures(nodes.column(batches.SIG), op.num_fields, cfg.num_perm)
        keys = band_keys(sigs, op.bands, op.rows)[reps]
        found = [_group_pairs(keys[:, band], rank[reps], cfg.max_bucket, cfg.window) for band in range(op.bands)]
        n = np.int64(len(names))
        codes = np.unique(np.concatenate(found) @ np.array([n, 1], np.int64)) if found else np.empty(0, np.int64)
        pairs = np.stack((codes // n, codes % n), axis=1)
        if len(pairs):
            ia, ib = by_rank[pairs[:, 0]], by_rank[pairs[:, 1]]
            both = pa.table({"a": node_column.take(pa.array(ia)), "b": node_column.take(pa.array(ib)),
                             "sig_a": nodes.column(batches.SIG).take(pa.array(ia)),
                             "sig_b": nodes.column(batches.SIG).take(pa.array(ib)),
                             "exact_a": nodes.column(batches.EXACT).take(pa.array(ia)),
                             "exact_b": nodes.column(batches.EXACT).take(pa.array(ib)),
                             "sets_a": nodes.column(batches.SETS).take(pa.array(ia)),
                             "sets_b": nodes.column(batches.SETS).take(pa.array(ib))})
            done = batches.verify(both, threshold=cfg.threshold, num_fields=op.num_fields,
                                  num_perm=cfg.num_perm, numbers=cfg.numbers)
            edges += [Edge(a, b, s, e) for a, b, e, s in zip(
                done.column("a").to_pylist(), done.column("b").to_pylist(), done.column("exact").to_pylist(),
                done.column("similarity").to_pylist())]
    return edges


def dedup_table(op, table: pa.Table, batch_size: int | None = None) -> tuple[pa.Table, list[Edge]]:
    """Run the Dedup operator `op` on `table` in this process, in batches of the stage's size;
    returns (marked table, edges)."""
    cfg = op.config
    batch_size = batch_size or cfg.batch_size
    parts = [batches.prepare(table.slice(lo, batch_size), fields=cfg.fields, combined=cfg.combined,
                             hasher=op.hasher, keep=cfg.keep, stage=op.stage)
             for lo in range(0, max(table.num_rows, 1), batch_size)]
    prepared = pa.concat_tables(parts)
    nodes = prepared.filter(pc.is_valid(prepared.column(batches.NODE))).select(list(batches.INTERNAL))
    edges = find_edges(op, nodes)
    removed = batches.removal_table(resolve(edges))
    return batches.mark(prepared, removed, op.stage), edges
