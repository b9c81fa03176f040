"""The vectorised removal table equals the reference (union-find `resolve` + `removal_table`)."""
from __future__ import annotations

import random

from operators.dedup import batches, removals
from operators.dedup.components import Edge, live_node, pinned_node, resolve


def _node(rng: random.Random, i: int) -> str:
    key = f"src.jsonl\x1f{i:012d}\x1fid-{i}" + ("\"ü\\" if i % 7 == 0 else "")
    kind = rng.random()
    if kind < 0.15:
        return pinned_node(key, rng.randrange(3))
    if kind < 0.25:
        return pinned_node(key, rng.randrange(3), published=False)
    return live_node(key)


def _random_edges(seed: int) -> list[Edge]:
    rng = random.Random(seed)
    nodes = [_node(rng, i) for i in range(rng.randrange(2, 60))]
    edges = []
    for _ in range(rng.randrange(1, 120)):
        a, b = rng.sample(nodes, 2)
        exact = rng.random() < 0.3
        edges.append(Edge(a, b, 1.0 if exact else rng.choice([0.7, 0.75, 0.8123, 0.9]), exact))
    return edges


def test_equals_reference_on_random_graphs():
    for seed in range(300):
        edges = _random_edges(seed)
        want = batches.removal_table(resolve(edges))
        assert removals.removal_table(edges).to_pylist() == want.to_pylist(), seed


def test_no_edges_no_removals():
    assert removals.removal_table([]).num_rows == 0
