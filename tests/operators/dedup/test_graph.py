"""The dedup graph steps: several band groups and many blocks find the same edges as one of each."""
from __future__ import annotations

import pyarrow as pa
import pytest

from operators.dedup import batches, graph
from operators.dedup.local import find_edges
from operators.dedup.stage import Dedup, DedupConfig
from tests.operators.dedup.dedup_corpus import instructions, table


def signed_nodes(op: Dedup, data: pa.Table) -> pa.Table:
    cfg = op.config
    prepared = batches.prepare(data, fields=cfg.fields, combined=cfg.combined, hasher=op.hasher, keep=cfg.keep,
                               stage=op.stage)
    return prepared.select(list(batches.INTERNAL)).filter(prepared.column(batches.NODE).is_valid())


def edges_in_blocks(op: Dedup, nodes: pa.Table, blocks: int, groups: int) -> list:
    cfg, size = op.config, -(-nodes.num_rows // blocks)
    parts = [nodes.slice(lo, size) for lo in range(0, nodes.num_rows, size)]
    found = []
    for g, band_range in enumerate(graph.band_slices(op.bands, groups)):
        keys = [graph.key_rows(p, bands=op.bands, rows=op.rows, num_fields=op.num_fields, num_perm=cfg.num_perm,
                               near=cfg.near, band_range=band_range) for p in parts]
        pairs = graph.candidates(keys, exact=cfg.exact, near=cfg.near, first_group=g == 0,
                                 max_bucket=cfg.max_bucket, window=cfg.window)
        sigs = [graph.sig_rows(p, pairs) for p in parts]
        found.append(graph.verified(pairs, sigs, threshold=cfg.threshold, num_fields=op.num_fields,
                                    num_perm=cfg.num_perm, numbers=cfg.numbers))
    return graph.to_edges(found)


def test_band_slices_cover_every_band_once():
    for bands in (1, 5, 22, 25):
        for groups in (1, 2, 3, 7, 40):
            ranges = graph.band_slices(bands, groups)
            covered = [b for lo, hi in ranges for b in range(lo, hi)]
            assert covered == list(range(bands)) and all(hi > lo for lo, hi in ranges)


@pytest.mark.parametrize("blocks,groups", [(1, 1), (7, 1), (3, 4), (5, 25)])
def test_groups_and_blocks_give_the_edges_of_one_task(blocks, groups):
    op = Dedup(DedupConfig())
    nodes = signed_nodes(op, table(instructions(1200, seed=21)))
    want = {(a, b, e) for a, b, _, e in find_edges(op, nodes)}
    got = edges_in_blocks(op, nodes, blocks, groups)
    assert {(a, b, e) for a, b, _, e in got} == want
    assert any(e for *_, e in got) and not all(e for *_, e in got)  # both exact and near edges


def test_nothing_to_compare():
    op = Dedup(DedupConfig())
    empty = signed_nodes(op, table(["one lonely instruction here"]))
    assert graph.candidates([], exact=True, near=True, first_group=True, max_bucket=64, window=32).num_rows == 0
    assert edges_in_blocks(op, empty, 1, 2) == []
