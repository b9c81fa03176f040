"""Posting lists of the novelty index in flat arrays (walked by kernels.search).

A list is a chain of chunks in one arena (newest chunk first; chunk capacities double along a list, so
a list of k entries is O(log k) contiguous runs and the arena stays under twice the entries), which
appends in O(1) and lets one compiled call walk every list of a query with sequential reads. Entry i's
text signature is blooms[i * BLOOM_WORDS:(i + 1) * BLOOM_WORDS]. The chunks a rebuild writes hold their
entries by increasing length (`ordered`), so a search reads only the lengths it can pair with.
"""
from __future__ import annotations

import numpy as np

from operators.bootstrap.kernels import BLOOM_WORDS, LENGTH_BITS, LENGTH_CAP, RANK_BITS, RANK_MASK

FIRST_CHUNK, LAST_CHUNK = 4, 4096


class Postings:
    def __init__(self):
        self.slots: dict[int, int] = {}  # element -> its list
        self.heads = np.zeros(1024, np.int64)  # list -> its newest chunk (0: none; chunk c is c - 1)
        self.starts, self.fills, self.links = (np.zeros(1024, np.int64) for _ in range(3))
        self.capacities = np.zeros(1024, np.int64)
        self.ordered = np.zeros(1024, np.bool_)
        self.arena = np.zeros(4096, np.int64)
        self.blooms = np.zeros(4096 * BLOOM_WORDS, np.uint64)
        self.used = 0  # arena entries reserved
        self.chunks = 0

    def append(self, element: int, offset: int, length: int, rank: int, signature: np.ndarray) -> None:
        slot = self.slots.setdefault(element, len(self.slots))
        self.heads = grown(self.heads, slot + 1)
        chunk = int(self.heads[slot]) - 1
        if chunk < 0 or self.fills[chunk] == self.capacities[chunk]:
            chunk = self._chunk(slot, FIRST_CHUNK if chunk < 0 else min(2 * int(self.capacities[chunk]), LAST_CHUNK))
        fill = int(self.fills[chunk])
        at = int(self.starts[chunk]) + fill
        self.blooms[at * BLOOM_WORDS:(at + 1) * BLOOM_WORDS] = signature
        self.arena[at] = (
            (offset << (LENGTH_BITS + RANK_BITS)) | (min(length, LENGTH_CAP) << RANK_BITS) | min(rank, RANK_MASK))
        self.fills[chunk] = fill + 1

    @classmethod
    def bulk(cls, elements: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, ranks: np.ndarray,
             signatures: np.ndarray) -> "Postings":
        """All entries at once (a rebuild): one chunk per list, exactly full; signatures[k] is entry k's."""
        postings = cls()
        keys, slot_of, counts = np.unique(elements, return_inverse=True, return_counts=True)
        postings.slots = dict(zip(keys.tolist(), range(keys.size)))
        order = np.lexsort((lengths, slot_of))
        postings.arena = grown(np.zeros(0, np.int64), max(elements.size, 1))
        postings.arena[:elements.size] = ((offsets[order] << (LENGTH_BITS + RANK_BITS))
                                          | (np.minimum(lengths[order], LENGTH_CAP) << RANK_BITS)
                                          | np.minimum(ranks[order], RANK_MASK))
        postings.blooms = np.zeros(postings.arena.size * BLOOM_WORDS, np.uint64)
        postings.blooms[:elements.size * BLOOM_WORDS] = signatures[order].reshape(-1)
        postings.used, postings.chunks = int(elements.size), int(keys.size)
        size = max(keys.size, 1)
        postings.heads = np.zeros(size, np.int64)
        postings.heads[:keys.size] = np.arange(1, keys.size + 1)
        postings.starts, postings.fills, postings.links, postings.capacities = (np.zeros(size, np.int64) for _ in range(4))
        postings.starts[:keys.size] = np.cumsum(counts) - counts
        postings.fills[:keys.size] = postings.capacities[:keys.size] = counts
        postings.ordered = np.ones(size, np.bool_)
        return postings

    def lists(self, elements: list[int]) -> np.ndarray:
        """The list of each element (-1: none)."""
        get = self.slots.get
        return np.fromiter((get(e, -1) for e in elements), np.int64, len(elements))

    def _chunk(self, slot: int, capacity: int) -> int:
        chunk = self.chunks
        self.chunks += 1
        self.starts, self.fills, self.links, self.capacities, self.ordered = (
            grown(a, chunk + 1) for a in (self.starts, self.fills, self.links, self.capacities, self.ordered))
        self.arena = grown(self.arena, self.used + capacity)
        self.blooms = grown(self.blooms, (self.used + capacity) * BLOOM_WORDS)
        self.starts[chunk], self.fills[chunk], self.capacities[chunk] = self.used, 0, capacity
        self.links[chunk] = self.heads[slot]
        self.heads[slot] = chunk + 1
        self.used += capacity
        return chunk


def grown(values: np.ndarray, size: int) -> np.ndarray:
    """`values` with room for `size` items (capacity doubles: amortised O(1) appends)."""
    if size <= values.size:
        return values
    return np.concatenate([values, np.zeros(max(size, values.size), values.dtype)])
