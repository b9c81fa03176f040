"""Novelty of a candidate instruction against a growing pool: exact ROUGE-L on few candidates.

Self-Instruct scores every new instruction against the whole pool (O(N) ROUGE-L per candidate). A
score above `threshold` needs many shared tokens: F = 2·LCS/(m+n) and LCS <= the multiset overlap O,
so F > t implies O > t·(m+n)/2 >= t·m/(2-t) for a text of m tokens. That is the prefix filter of
set-similarity joins: with the multiset's elements (token, k-th occurrence) in one global order
(rarest first), two texts reaching the bound share an element among the first m - ceil(t·m/(2-t)) + 1
of each. Only prefixes are indexed; candidates are pool texts sharing a prefix element and of a
length that can reach the threshold. One compiled call walks the query's posting lists, bounds each
candidate's F-measure from its token signature (kept in the posting entry) and computes the exact LCS
(bit-parallel) from the highest bound down, until no remaining bound can exceed the threshold or
enter the top-10. No pair above the threshold is ever missed, so decisions equal a brute-force scan;
the reported top-10 is the best among the candidates, the same as scoring every candidate would give.
The order is rebuilt from element frequencies (vectorised) whenever the pool has doubled.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import chain

import numpy as np

from operators.bootstrap.kernels import BLOOM_WORDS, HEADER, LENGTH, POSITION, STAMP, search, signature
from operators.bootstrap.postings import Postings, grown
from operators.bootstrap.rouge import rouge_tokens

TOP_K = 10


@dataclass(frozen=True)
class Verdict:
    novel: bool
    similar: tuple[tuple[int, float], ...]  # (pool position, ROUGE-L F), best first, at most TOP_K
    max_score: float
    candidates: int


class NoveltyIndex:
    def __init__(self, threshold: float = 0.7):
        if not 0 < threshold < 1:
            raise ValueError("the ROUGE-L threshold must be in (0, 1)")
        self.threshold = threshold
        self.texts: list[str] = []
        self._vocab: dict[str, int] = {}
        self._flat = np.zeros(1024, np.int32)  # int32: a candidate's header and tokens in one cache line or two
        self._offsets = np.zeros(1024, np.int64)  # text p (header, tokens) is flat[offsets[p]:offsets[p + 1]]
        self._elements: list[list[int]] = []
        self._signatures = np.zeros(1024 * BLOOM_WORDS, np.uint64)  # text p's: [p * BLOOM_WORDS, (p + 1) * BLOOM_WORDS)
        self._freq: dict[int, int] = {}  # element -> occurrences in the pool at the last rebuild
        self._postings = Postings()
        self._rebuilt_at = 0
        self._masks = np.zeros(1024, np.uint64)  # per token id: the query positions holding it
        self._queries = 0
        self._top_pos, self._top_score = np.zeros(TOP_K, np.int64), np.zeros(TOP_K, np.float64)

    def __len__(self) -> int:
        return len(self.texts)

    def check(self, text: str) -> Verdict:
        """Is `text` novel (no pool text with ROUGE-L F > threshold)? Does not add it."""
        ids = self._ids(rouge_tokens(text), grow=False)
        if not ids.size or not self.texts:
            return Verdict(True, (), 0.0, 0)
        self._next_query()
        p = self._postings
        count, kept = search(ids, p.lists(self._prefix(_elements(ids))), self.threshold, p.heads, p.starts, p.fills,
                             p.links, p.ordered, p.arena, p.blooms, self._flat, self._masks, self._queries,
                             self._top_pos, self._top_score)
        if not count:
            return Verdict(True, (), 0.0, 0)
        similar = tuple(zip(self._top_pos[:kept].tolist(), self._top_score[:kept].tolist()))
        best = similar[0][1]
        return Verdict(best <= self.threshold, similar, best, count)

    def add(self, text: str) -> int:
        """Append `text` to the pool; returns its position."""
        ids = self._ids(rouge_tokens(text), grow=True)
        pos = len(self.texts)
        self.texts.append(text)
        start = int(self._offsets[pos])
        end = start + HEADER + ids.size
        self._flat = grown(self._flat, end)
        self._offsets = grown(self._offsets, pos + 2)
        self._masks = grown(self._masks, len(self._vocab))
        self._flat[start + POSITION], self._flat[start + LENGTH], self._flat[start + STAMP] = pos, ids.size, 0
        self._flat[start + HEADER:end] = ids
        self._offsets[pos + 1] = end
        self._signatures = grown(self._signatures, (pos + 1) * BLOOM_WORDS)
        signature(ids, self._signatures[pos * BLOOM_WORDS:(pos + 1) * BLOOM_WORDS])
        elements = _elements(ids)
        self._elements.append(elements)
        if len(self.texts) >= 2 * max(self._rebuilt_at, 64):
            self._rebuild()
        else:
            self._index(pos, elements)
        return pos

    def add_if_novel(self, text: str) -> tuple[Verdict, int | None]:
        verdict = self.check(text)
        return verdict, (self.add(text) if verdict.novel else None)

    # --- internals -------------------------------------------------------------------------------
    def _next_query(self) -> None:
        """A new stamp for the texts this query scores; before the int32 stamps wrap, all are cleared."""
        self._queries += 1
        if self._queries == np.iinfo(np.int32).max:
            self._flat[self._offsets[:len(self.texts)] + STAMP] = 0
            self._queries = 1

    def _ids(self, tokens: list[str], grow: bool) -> np.ndarray:
        if grow:
            return np.fromiter((self._vocab.setdefault(t, len(self._vocab)) for t in tokens), np.int32, len(tokens))
        # a token the pool has never seen matches nothing: any unused (negative) id will do
        return np.fromiter((self._vocab.get(t, -1 - n) for n, t in enumerate(tokens)), np.int32, len(tokens))

    def _min_overlap(self, m: int) -> int:
        t = self.threshold
        return max(1, math.floor(t * m / (2 - t) - 1e-9))

    def _prefix(self, elements: list[int]) -> list[int]:
        freq = self._freq
        ordered = sorted(elements, key=lambda e: (freq.get(e, 0), e))
        return ordered[:len(elements) - self._min_overlap(len(elements)) + 1]

    def _index(self, pos: int, elements: list[int]) -> None:
        own = self._signatures[pos * BLOOM_WORDS:(pos + 1) * BLOOM_WORDS]
        for rank, element in enumerate(self._prefix(elements)):
            self._postings.append(element, int(self._offsets[pos]), len(elements), rank, own)

    def _rebuild(self) -> None:
        """The global order from the pool's element frequencies, and every text's prefix in it (vectorised
        `_prefix`: within a text, elements sorted by (frequency, element), the first m - min_overlap + 1)."""
        n = len(self._elements)
        sizes = np.fromiter(map(len, self._elements), np.int64, n)
        flat = np.fromiter(chain.from_iterable(self._elements), np.int64, int(sizes.sum()))
        keys, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        self._freq = dict(zip(keys.tolist(), counts.tolist()))
        owner = np.repeat(np.arange(n), sizes)
        order = np.lexsort((flat, counts[inverse], owner))  # text by text, as `_prefix` sorts
        rank = np.arange(flat.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        t = self.threshold
        overlap = np.maximum(1, np.floor(t * sizes / (2 - t) - 1e-9)).astype(np.int64)
        keep = rank < np.repeat(sizes - overlap + 1, sizes)
        positions = owner[order][keep]
        signatures = self._signatures[:n * BLOOM_WORDS].reshape(n, BLOOM_WORDS)[positions]
        self._postings = Postings.bulk(flat[order][keep], self._offsets[positions], sizes[positions], rank[keep],
                                       signatures)
        self._rebuilt_at = n


def _elements(ids: np.ndarray) -> list[int]:
    """The multiset as a set: token id with its occurrence number, one int each."""
    seen: Counter = Counter()
    out = []
    for token in ids.tolist():
        seen[token] += 1
        out.append((token << 8) | min(seen[token], 255))
    return out
