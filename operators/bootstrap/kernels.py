"""The compiled kernels of the novelty index, all in this file: numba's on-disk cache is invalidated by
edits to the file that defines a kernel, not to the files of the kernels it calls.

ROUGE-L as the `rouge-score` package computes it, on integer token ids: Hyyrö's bit-vector LCS for
queries of up to 64 tokens (one machine word, one step per pool token), the dynamic programme for
longer ones; and `search`, which walks a query's posting lists (operators/bootstrap/postings.py) and
scores each candidate as it is found. A posting entry packs where the pool text starts in the pool's
flat array, its length (capped: the cap means "read the text's header") and the element's rank in
that text's prefix, so the length and positional filters need no other read. In the flat array a
text is a header (pool position, length, the last query that took it) and its token ids: a candidate
costs one random read, which brings its tokens.
"""
from __future__ import annotations

import numpy as np

from operators.dedup.kernels import compiled

RANK_BITS, LENGTH_BITS = 10, 21
RANK_MASK, LENGTH_CAP = 2 ** RANK_BITS - 1, 2 ** LENGTH_BITS - 1
POSITION, LENGTH, STAMP, HEADER = 0, 1, 2, 3  # a pool text in the (int32) flat array: header, then its tokens
WORD = 64


@compiled
def set_masks(query, masks, on):
    """masks[token] gets (on) or loses (not on) the bits of the query positions holding it; a query
    of more than WORD tokens is left to the dynamic programme (negative ids never match)."""
    if query.shape[0] > WORD:
        return
    for j in range(query.shape[0]):
        if query[j] >= 0:
            masks[query[j]] = masks[query[j]] | (np.uint64(1) << np.uint64(j)) if on else np.uint64(0)


@compiled
def lcs_bits(m, masks, flat, start, end):
    """LCS length of a query of m <= WORD tokens (its position masks set) and flat[start:end]."""
    v = np.uint64(0xFFFFFFFFFFFFFFFF)
    for i in range(start, end):
        y = flat[i]
        if y < masks.shape[0]:
            u = v & masks[y]
            v = (v + u) | (v - u)
    zeros = ~v
    if m < WORD:
        zeros &= (np.uint64(1) << np.uint64(m)) - np.uint64(1)
    count = 0
    while zeros:
        zeros &= zeros - np.uint64(1)
        count += 1
    return count


@compiled
def lcs_dp(query, flat, start, end, prev, cur):
    """LCS length of `query` and flat[start:end] (prev, cur: scratch of len(query) + 1)."""
    m = query.shape[0]
    for j in range(m + 1):
        prev[j] = 0
    for i in range(start, end):
        y = flat[i]
        cur[0] = 0
        for j in range(m):
            if query[j] == y:
                cur[j + 1] = prev[j] + 1
            elif prev[j + 1] >= cur[j]:
                cur[j + 1] = prev[j + 1]
            else:
                cur[j + 1] = cur[j]
        prev, cur = cur, prev
    return prev[m]


@compiled
def f_measure(lcs, query_len, other_len):
    """rouge-score's fmeasure(precision, recall) with the same float operations."""
    if lcs <= 0:
        return 0.0
    precision = lcs / other_len
    recall = lcs / query_len
    return 2 * precision * recall / (precision + recall)


@compiled
def rouge_l(query, masks, flat, start, end, prev, cur):
    """ROUGE-L F of `query` (its masks set) and pool text flat[start:end] (prev, cur: DP scratch)."""
    m = query.shape[0]
    lcs = lcs_bits(m, masks, flat, start, end) if m <= WORD else lcs_dp(query, flat, start, end, prev, cur)
    return f_measure(lcs, m, end - start)


@compiled
def keep_best(p, score, kept, top_pos, top_score):
    """Insert (p, score) into the best `kept` so far (score down, then p up); returns the new count."""
    slot = kept
    while slot > 0 and (score > top_score[slot - 1] or (score == top_score[slot - 1] and p < top_pos[slot - 1])):
        slot -= 1
    if slot >= top_pos.shape[0]:
        return kept
    for k in range(min(kept, top_pos.shape[0] - 1), slot, -1):
        top_pos[k], top_score[k] = top_pos[k - 1], top_score[k - 1]
    top_pos[slot], top_score[slot] = p, score
    return min(kept + 1, top_pos.shape[0])


@compiled
def search(query, lists, t, heads, starts, fills, links, arena, flat, masks, mark, top_pos, top_score):
    """ROUGE-L of `query` against the pool texts sharing an element within both prefixes cut for their
    own pair of lengths (PPJoin's positional filter: the overlap needed grows with the pool text's
    length), each scored once (its stamp set to `mark`) as it is found; the best go to top_pos /
    top_score (see `keep_best`). Returns (candidates scored, best kept). F > t needs an overlap above
    t·(m+n)/2 (floor: a safe lower bound), and F <= 2·min(m,n)/(m+n) bounds the lengths:
    t·m/(2-t) <= n <= m·(2-t)/t."""
    m = query.shape[0]
    low = t * m / (2 - t) - 1e-9
    high = m * (2 - t) / t + 1e-9
    prev = np.zeros(m + 1, np.int32)
    cur = np.zeros(m + 1, np.int32)
    set_masks(query, masks, True)
    count = kept = 0
    for query_rank in range(lists.shape[0]):
        if lists[query_rank] < 0:
            continue
        chunk = heads[lists[query_rank]]
        while chunk:
            for i in range(starts[chunk - 1], starts[chunk - 1] + fills[chunk - 1]):
                entry = arena[i]
                o = entry >> (LENGTH_BITS + RANK_BITS)
                n = (entry >> RANK_BITS) & LENGTH_CAP
                if n == LENGTH_CAP:
                    n = flat[o + LENGTH]
                if n < low or n > high:
                    continue
                need = max(1, int(np.floor(t * (m + n) / 2 - 1e-9)))
                if (entry & RANK_MASK) < n - need + 1 and query_rank < m - need + 1 and flat[o + STAMP] != mark:
                    flat[o + STAMP] = mark
                    count += 1
                    score = rouge_l(query, masks, flat, o + HEADER, o + HEADER + n, prev, cur)
                    kept = keep_best(flat[o + POSITION], score, kept, top_pos, top_score)
            chunk = links[chunk - 1]
    set_masks(query, masks, False)
    return count, kept
