"""Compiled loops of the dedup candidate step (numba): pairs inside LSH buckets and the exact Jaccard
of candidate pairs. Same conventions as kernels.py (numpy twins in local.py and columns.py, tested
against each other; `kernels.ENABLED` switches both modules).
"""
from __future__ import annotations

import numpy as np

from operators.dedup.kernels import compiled


@compiled
def _emit_group(ranks, lo, hi, max_bucket, window, out, k, fill):
    """Pairs of one bucket (ranks[lo:hi], sorted) from position k on; returns the new k. Without
    `fill`, only counts."""
    n = hi - lo
    for i in range(n):
        if n <= max_bucket:
            stop = n
        elif i == 0:
            stop = n
        else:
            stop = min(n, i + 1 + window)
        for j in range(i + 1, stop):
            if fill:
                out[k, 0] = ranks[lo + i]
                out[k, 1] = ranks[lo + j]
            k += 1
    return k


@compiled
def _shared_rows(keys, repeated):
    """Positions of the keys that are in `repeated` (the distinct keys held by two or more rows),
    and the index of each one's key in `repeated`. The table over `repeated` is small, so the
    lookups stay in cache; the keys are mixed hashes, so their low bits index it."""
    capacity = 1 << max(4, int(np.ceil(np.log2(2 * len(repeated) + 1))))
    mask = np.uint64(capacity - 1)
    slot_key = np.empty(capacity, np.uint64)
    slot_group = np.full(capacity, -1, np.int64)
    for g in range(len(repeated)):
        slot = np.int64(repeated[g] & mask)
        while slot_group[slot] >= 0:
            slot = (slot + 1) & (capacity - 1)
        slot_key[slot], slot_group[slot] = repeated[g], g
    rows = np.empty(len(keys), np.int64)
    groups = np.empty(len(keys), np.int64)
    k = 0
    for i in range(len(keys)):
        slot = np.int64(keys[i] & mask)
        while slot_group[slot] >= 0 and slot_key[slot] != keys[i]:
            slot = (slot + 1) & (capacity - 1)
        if slot_group[slot] >= 0:
            rows[k], groups[k] = i, slot_group[slot]
            k += 1
    return rows[:k], groups[:k]


@compiled
def bucket_pairs(keys, repeated, ranks, max_bucket, window):
    """(k, 2) rank pairs inside groups of equal keys (`repeated`: the distinct keys held by two or
    more rows): all pairs up to max_bucket members, else each member (by rank) with its `window`
    successors and the first member with every other."""
    rows, groups = _shared_rows(keys, repeated)
    n = np.int64(1)
    for r in ranks:
        n = max(n, r + 1)
    order = np.sort(groups * n + ranks[rows])  # by group, then rank
    group_of, member = order // n, order % n
    total = 0
    for phase in range(2):
        out = np.empty((total if phase else 0, 2), np.int64)
        k = 0
        lo = 0
        while lo < len(order):
            hi = lo + 1
            while hi < len(order) and group_of[hi] == group_of[lo]:
                hi += 1
            k = _emit_group(member, lo, hi, max_bucket, window, out, k, phase == 1)
            lo = hi
        total = k
    return out


@compiled
def _distinct_overlap(x, y):
    """(distinct values of x, of y, shared distinct values) of two sorted arrays."""
    i = j = ux = uy = inter = 0
    while i < len(x) or j < len(y):
        take_x = j >= len(y) or (i < len(x) and x[i] <= y[j])
        take_y = i >= len(x) or (j < len(y) and y[j] <= x[i])
        v = x[i] if take_x else y[j]
        if take_x:
            ux += 1
            while i < len(x) and x[i] == v:
                i += 1
        if take_y:
            uy += 1
            while j < len(y) and y[j] == v:
                j += 1
        if take_x and take_y:
            inter += 1
    return ux, uy, inter


_SMALL = 128  # sets up to this size are insertion-sorted in a reused buffer


@compiled
def _sorted_copy(words, start, length, scratch):
    """words[start:start+length] sorted: insertion sort into `scratch` when short, else np.sort."""
    if length > len(scratch):
        return np.sort(words[start:start + length])
    for i in range(length):
        v = words[start + i]
        j = i
        while j > 0 and scratch[j - 1] > v:
            scratch[j] = scratch[j - 1]
            j -= 1
        scratch[j] = v
    return scratch[:length]


@compiled
def pair_jaccard(words_a, start_a, len_a, words_b, start_b, len_b):
    """Exact Jaccard of the value sets of segment pairs (length -1: no set) and where both exist;
    see `columns.pair_jaccard`."""
    size = len(len_a)
    jac = np.zeros(size)
    has = np.zeros(size, np.bool_)
    scratch_a, scratch_b = np.empty(_SMALL, np.uint32), np.empty(_SMALL, np.uint32)
    for s in range(size):
        if len_a[s] < 0 or len_b[s] < 0:
            continue
        has[s] = True
        x = _sorted_copy(words_a, start_a[s], len_a[s], scratch_a)
        y = _sorted_copy(words_b, start_b[s], len_b[s], scratch_b)
        ux, uy, inter = _distinct_overlap(x, y)
        union = ux + uy - inter
        jac[s] = inter / union if union > 0 else 1.0
    return jac, has
