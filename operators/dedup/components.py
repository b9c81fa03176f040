"""Connected components over verified duplicate edges and the keeper rule.

Nodes are sortable strings built by `node_key`; the keeper of a component is its smallest node, so
the rule ("first in input order", "longest output", "rows of an earlier release first") lives
entirely in how the key is built. Only the verified edges (small) are held in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple

_SEP = "\x1f"
# Prefixes: published rows of earlier releases < rows of this run < unpublished rows of earlier
# releases (removed there as duplicates; they link components but never become keepers).
PINNED, LIVE, UNPUBLISHED = "0", "1", "2"
_LINE_WIDTH = 12
_MAX_LEN = 10 ** 12 - 1


def order_part(source: str | None, row_id: str) -> str:
    """Sortable input position from `source` = "path:line": (path, numeric line), then id."""
    source = source or ""
    path, _, line = source.rpartition(":")
    if not (path and line.isdigit()):
        path, line = source, "0"
    return f"{path}{_SEP}{int(line):0{_LINE_WIDTH}d}{_SEP}{row_id}"


def node_key(source: str | None, row_id: str, keep: str = "first", output: str | None = None) -> str:
    """Key of a row of this run (without the LIVE prefix; that is added by `live_node`)."""
    rank = "" if keep == "first" else f"{_MAX_LEN - min(len(output or ''), _MAX_LEN):0{_LINE_WIDTH}d}{_SEP}"
    return rank + order_part(source, row_id)


def live_node(key: str) -> str:
    return LIVE + key


def pinned_node(key: str, release: int, published: bool = True) -> str:
    return f"{PINNED if published else UNPUBLISHED}{release:04d}{key}"


def is_pinned(node: str) -> bool:
    return not node.startswith(LIVE)


def node_id(node: str) -> str:
    return node.rsplit(_SEP, 1)[-1]


class Edge(NamedTuple):  # a tuple: cheap to build by the hundred thousand
    a: str
    b: str
    similarity: float
    exact: bool  # both rows have the same exact key


@dataclass(frozen=True)
class Removal:
    node: str
    keeper: str
    reason: str  # exact_duplicate | near_duplicate
    similarity: float
    via: str | None  # neighbour through which the row joined the keeper's component, if not direct


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        root = parent.setdefault(x, x)
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the smaller key becomes the root: the root is always the component minimum
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


def resolve(edges: Iterable[Edge]) -> list[Removal]:
    """One keeper per component (its smallest node); every other live node is removed."""
    uf, exact = UnionFind(), UnionFind()
    best: dict[str, tuple[float, str]] = {}
    direct: dict[tuple[str, str], float] = {}
    for e in edges:
        uf.union(e.a, e.b)
        if e.exact:
            exact.union(e.a, e.b)
        pair = (min(e.a, e.b), max(e.a, e.b))
        direct[pair] = max(direct.get(pair, 0.0), e.similarity)
        for node, other in ((e.a, e.b), (e.b, e.a)):
            held = best.get(node)
            if held is None or (e.similarity, held[1]) > (held[0], other):
                best[node] = (e.similarity, other)
    removals = []
    for node in sorted(uf.parent):
        keeper = uf.find(node)
        if is_pinned(node) or keeper == node or keeper.startswith(UNPUBLISHED):
            continue
        if exact.find(node) == exact.find(keeper):
            removals.append(Removal(node, keeper, "exact_duplicate", 1.0, None))
        elif (min(node, keeper), max(node, keeper)) in direct:
            removals.append(Removal(node, keeper, "near_duplicate",
                                    direct[(min(node, keeper), max(node, keeper))], None))
        else:
            similarity, via = best[node]
            removals.append(Removal(node, keeper, "near_duplicate", similarity, via))
    return removals
