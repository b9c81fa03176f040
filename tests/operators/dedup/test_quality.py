"""Quality against exact character 5-gram Jaccard over all pairs of a 5,000-document corpus."""
from __future__ import annotations

from operators.dedup.components import UnionFind
from operators.dedup.local import dedup_table
from operators.dedup.stage import Dedup, DedupConfig
from tests.operators.dedup.dedup_corpus import instructions, table, true_pairs


def position(node: str) -> int:
    """Row position from a node key ("1" + path \x1f line \x1f id; lines start at 1)."""
    return int(node.split("\x1f")[1]) - 1


def test_recall_and_precision_against_exact_jaccard():
    texts = instructions(5000)
    truth = true_pairs(texts)
    assert len(truth) > 300  # the corpus really has near-duplicates and copies
    data = table(texts)
    out, edges = dedup_table(Dedup(DedupConfig(fields=("instruction",))), data)
    uf = UnionFind()
    for e in edges:
        uf.union(position(e.a), position(e.b))
    recall = sum(uf.find(i) == uf.find(j) for i, j in truth) / len(truth)
    edge_pairs = {tuple(sorted((position(e.a), position(e.b)))) for e in edges}
    precision = len(edge_pairs & truth) / len(edge_pairs)
    print(f"recall={recall:.4f} precision={precision:.4f} pairs={len(truth)} edges={len(edge_pairs)}")
    assert recall >= 0.95, recall
    assert precision >= 0.98, precision
    assert out.num_rows == data.num_rows
