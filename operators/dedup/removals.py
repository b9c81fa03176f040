"""The removal table from verified edges, with whole-array operations: the same table as
`batches.removal_table(components.resolve(edges))` (the readable reference; a test compares the
two), computed without a Python object per node.

Nodes are ranked by their sort order, so "smallest node of a component" is "smallest rank";
components come from scipy's connected_components over the edge list.
"""
from __future__ import annotations

from json.encoder import encode_basestring
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from operators.dedup.components import LIVE, UNPUBLISHED, Edge, node_id

SCHEMA = pa.schema([("node", pa.string()), ("reason", pa.string()), ("detail", pa.string())])


def _labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=False)[1]


def _component_min(labels: np.ndarray) -> np.ndarray:
    """Smallest node of every node's component."""
    smallest = np.full(labels.max(initial=-1) + 1, len(labels), np.int64)
    np.minimum.at(smallest, labels, np.arange(len(labels)))
    return smallest[labels]


def _ranked_nodes(a: Sequence[str], b: Sequence[str]) -> tuple[pa.Array, np.ndarray]:
    """(distinct node names in sort order, rank of every endpoint of a + b)."""
    encoded = pa.array(list(a) + list(b), pa.string()).dictionary_encode()
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return encoded.dictionary.take(pa.array(order)), rank[encoded.indices.to_numpy()]


def _direct_similarity(n: int, ia, ib, sim, nodes, keepers) -> tuple[np.ndarray, np.ndarray]:
    """(has an edge to its keeper, highest similarity of such edges) for every node in `nodes`."""
    codes = np.minimum(ia, ib) * n + np.maximum(ia, ib)
    order = np.lexsort((-sim, codes))
    first = np.concatenate(([True], codes[order][1:] != codes[order][:-1]))
    unique_codes, best = codes[order][first], sim[order][first]
    wanted = np.minimum(nodes, keepers) * n + np.maximum(nodes, keepers)
    at = np.minimum(np.searchsorted(unique_codes, wanted), len(unique_codes) - 1)
    return unique_codes[at] == wanted, best[at]


def _best_neighbour(n: int, ia, ib, sim) -> tuple[np.ndarray, np.ndarray]:
    """Per node: the highest similarity of its edges and that edge's other end (smallest on ties)."""
    node, other, s = np.concatenate((ia, ib)), np.concatenate((ib, ia)), np.concatenate((sim, sim))
    order = np.lexsort((other, -s, node))
    first = np.concatenate(([True], node[order][1:] != node[order][:-1]))
    best_sim, best_other = np.zeros(n), np.full(n, -1, np.int64)
    best_sim[node[order][first]] = s[order][first]
    best_other[node[order][first]] = other[order][first]
    return best_sim, best_other


def removal_table(edges: Sequence[Edge]) -> pa.Table:
    """node, reason (exact_duplicate | near_duplicate), detail JSON for every removed node."""
    if not edges:
        return SCHEMA.empty_table()
    a, b, similarity, exact = zip(*edges)
    names, ranks = _ranked_nodes(a, b)
    n, count = len(names), len(a)
    ia, ib = ranks[:count], ranks[count:]
    sim, exact = np.asarray(similarity, np.float64), np.asarray(exact, bool)
    keeper = _component_min(_labels(n, ia, ib))
    exact_group = _labels(n, ia[exact], ib[exact])
    live = np.asarray(pc.starts_with(names, LIVE), bool)
    unpublished = np.asarray(pc.starts_with(names, UNPUBLISHED), bool)
    removed = np.flatnonzero(live & (keeper != np.arange(n)) & ~unpublished[keeper])
    is_exact = exact_group[removed] == exact_group[keeper[removed]]
    direct, direct_sim = _direct_similarity(n, ia, ib, sim, removed, keeper[removed])
    best_sim, best_other = _best_neighbour(n, ia, ib, sim)
    name_list = names.to_pylist()
    reasons, details = [], []
    for k, node in enumerate(removed.tolist()):
        keeper_id = encode_basestring(node_id(name_list[keeper[node]]))
        if is_exact[k]:
            similarity_, via = 1.0, None
        elif direct[k]:
            similarity_, via = float(direct_sim[k]), None
        else:
            similarity_, via = float(best_sim[node]), name_list[best_other[node]]
        reasons.append("exact_duplicate" if is_exact[k] else "near_duplicate")
        detail = f'{{"duplicate_of": {keeper_id}, "similarity": {round(similarity_, 4)!r}'
        details.append(detail + (f', "via": {encode_basestring(node_id(via))}}}' if via else "}"))
    return pa.table([names.take(pa.array(removed, pa.int64())), pa.array(reasons, pa.string()),
                     pa.array(details, pa.string())], schema=SCHEMA)
