"""The dedup stage's steps in one process over one Arrow table (no Ray): for the benchmark, the
quality test and small jobs. Same batch functions and the same result as `Dedup.apply`; buckets
are grouped with numpy sorts (no Python call per bucket). The cluster test checks that it keeps the
same rows as the distributed stage.
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from operators.dedup import batches, graph
from operators.dedup.components import Edge
from operators.dedup.removals import removal_table


def find_edges(op, nodes: pa.Table) -> list[Edge]:
    """Verified edges of one in-memory table of signed nodes: the stage's steps with one band group."""
    cfg = op.config
    keys = graph.key_rows(nodes, bands=op.bands, rows=op.rows, num_fields=op.num_fields, num_perm=cfg.num_perm,
                          near=cfg.near, band_range=(0, op.bands))
    pairs = graph.candidates([keys], exact=cfg.exact, near=cfg.near, first_group=True,
                             max_bucket=cfg.max_bucket, window=cfg.window)
    sigs = graph.sig_rows(nodes, pairs)
    return graph.to_edges([graph.verified(pairs, [sigs], threshold=cfg.threshold, num_fields=op.num_fields,
                                          num_perm=cfg.num_perm, numbers=cfg.numbers)])


def dedup_table(op, table: pa.Table, batch_rows: int | None = None) -> tuple[pa.Table, list[Edge]]:
    """Run the Dedup operator `op` on `table` in this process, in batches of the stage's size;
    returns (marked table, edges)."""
    cfg = op.config
    batch_rows = batch_rows or cfg.batch_rows
    parts = [batches.prepare(table.slice(lo, batch_rows), fields=cfg.fields, combined=cfg.combined,
                             hasher=op.hasher, keep=cfg.keep, stage=op.stage)
             for lo in range(0, max(table.num_rows, 1), batch_rows)]
    prepared = pa.concat_tables(parts)
    nodes = prepared.select(list(batches.INTERNAL))
    if nodes.column(batches.NODE).null_count:  # a filter copies every signature; skip it when all are signed
        nodes = nodes.filter(pc.is_valid(nodes.column(batches.NODE)))
    edges = find_edges(op, nodes)
    removed = removal_table(edges)
    return batches.mark(prepared, removed, op.stage), edges
