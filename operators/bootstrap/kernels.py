"""The compiled kernels of the novelty index, all in this file: numba's on-disk cache is invalidated by
edits to the file that defines a kernel, not to the files of the kernels it calls.

ROUGE-L as the `rouge-score` package computes it, on integer token ids: Hyyrö's bit-vector LCS for
queries of up to 64 tokens (one machine word, one step per pool token), the dynamic programme for
longer ones; and `search`, which walks a query's posting lists (operators/bootstrap/postings.py) and
scores the candidates most likely to matter first. A posting entry packs where the pool text starts in
the pool's flat array, its length (capped: the cap means "read the text's header") and the element's
rank in that text's prefix; beside it, the text's token signature (a Bloom filter of BLOOM_WORDS 64-bit
words, one bit per token). The length and positional filters and an upper bound on the pair's F-measure come
from the entry alone, read in sequence; only the texts whose bound can still matter are read (one
random read: a text is a header, pool position, length and the last query that scored it, then its
token ids) and scored exactly.
"""
from __future__ import annotations

import numpy as np

from operators.dedup.kernels import compiled

RANK_BITS, LENGTH_BITS = 10, 21
RANK_MASK, LENGTH_CAP = 2 ** RANK_BITS - 1, 2 ** LENGTH_BITS - 1
POSITION, LENGTH, STAMP, HEADER = 0, 1, 2, 3  # a pool text in the (int32) flat array: header, then its tokens
WORD = 64
BLOOM_WORDS = 2  # a token signature: BLOOM_WORDS 64-bit words, one bit per token
BLOOM_SHIFT = np.uint64(65 - (64 * BLOOM_WORDS).bit_length())  # the top bits of a multiplicative hash: a bit index
BUCKETS = 256  # candidates are scored by decreasing bound, in buckets of width 1 / BUCKETS
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@compiled
def bloom_bit(token):
    return (np.uint64(token) * _GOLDEN) >> BLOOM_SHIFT


@compiled
def signature(tokens, out):
    """out[0:BLOOM_WORDS]: the Bloom filter of `tokens` (non-negative ids)."""
    for w in range(BLOOM_WORDS):
        out[w] = np.uint64(0)
    for j in range(tokens.shape[0]):
        if tokens[j] >= 0:
            bit = bloom_bit(tokens[j])
            out[bit >> np.uint64(6)] |= np.uint64(1) << (bit & np.uint64(63))


@compiled
def popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@compiled
def query_layers(query):
    """Layer k holds the signature bits of the query tokens hashed there more than k times, so that
    sum_k popcount(layer_k & s) is the number of query tokens whose bit a text's signature s has: an
    upper bound on the pair's LCS (a query token without its bit is not in the text)."""
    counts = np.zeros(BLOOM_WORDS * 64, np.int64)
    for j in range(query.shape[0]):
        if query[j] >= 0:
            counts[bloom_bit(query[j])] += 1
    layers = np.zeros((max(1, counts.max()), BLOOM_WORDS), np.uint64)
    for bit in range(counts.shape[0]):
        for k in range(counts[bit]):
            layers[k, bit >> 6] |= np.uint64(1) << np.uint64(bit & 63)
    return layers


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
def matches(layers, blooms, i):
    """How many query tokens (their `layers`) have their bit in posting entry i's signature."""
    count = 0
    for k in range(layers.shape[0]):
        for w in range(BLOOM_WORDS):
            count += popcount(layers[k, w] & blooms[i * BLOOM_WORDS + w])
    return count


@compiled
def first_length(arena, begin, end, n):
    """The first entry of arena[begin:end] (sorted by length) whose length is at least n (<= LENGTH_CAP)."""
    while begin < end:
        middle = (begin + end) // 2
        if (arena[middle] >> RANK_BITS) & LENGTH_CAP < n:
            begin = middle + 1
        else:
            end = middle
    return begin


@compiled
def length_tables(m, t):
    """For the pool lengths n that can reach F > t with a query of m tokens (n_low + k, k < span): the
    prefix cuts of both sides for that pair (an element ranked at or past them cannot start a pair
    above t) and the factor turning a match count x into the bucket of the bound 2·min(x, n)/(m+n)
    (plus a little, so the bucket never understates it)."""
    n_low = max(1, int(np.ceil(t * m / (2 - t) - 1e-9)))
    span = max(0, int(np.floor(m * (2 - t) / t + 1e-9)) - n_low + 1)
    pool_cut, query_cut, scale = np.empty(span, np.int64), np.empty(span, np.int64), np.empty(span, np.float64)
    for k in range(span):
        n = n_low + k
        need = max(1, int(np.floor(t * (m + n) / 2 - 1e-9)))
        pool_cut[k], query_cut[k], scale[k] = n - need + 1, m - need + 1, 2.0 * BUCKETS / (m + n)
    return n_low, pool_cut, query_cut, scale


@compiled
def search(query, lists, t, heads, starts, fills, links, ordered, arena, blooms, flat, masks, mark, top_pos, top_score):
    """ROUGE-L of `query` against the pool texts sharing an element within both prefixes cut for their
    own pair of lengths (PPJoin's positional filter: the overlap needed grows with the pool text's
    length), from the highest signature bound down, into top_pos / top_score (see `keep_best`).
    Returns (texts scored, best kept)."""
    order, ends = by_bound(query, lists, t, heads, starts, fills, links, ordered, arena, blooms, flat)
    return score_from_the_top(query, t, order, ends, flat, masks, mark, top_pos, top_score)


@compiled
def by_bound(query, lists, t, heads, starts, fills, links, ordered, arena, blooms, flat):
    """The posting entries that pass the length and positional filters, by bucket of their F bound,
    highest first: bucket slot s is order[ends[s]:ends[s + 1]]. F > t needs an overlap above
    t·(m+n)/2 (floor: a safe lower bound), and F <= 2·min(m,n)/(m+n) bounds the lengths:
    t·m/(2-t) <= n <= m·(2-t)/t."""
    m = query.shape[0]
    n_low, pool_cut, query_cut, scale = length_tables(m, t)
    total = 0
    for query_rank in range(lists.shape[0]):
        chunk = heads[lists[query_rank]] if lists[query_rank] >= 0 else 0
        while chunk:
            total += fills[chunk - 1]
            chunk = links[chunk - 1]
    found = np.empty(total, np.int64)
    slot_of = np.empty(total, np.int64)  # slot s: bucket BUCKETS - 1 - s
    sizes = np.zeros(BUCKETS + 1, np.int64)
    layers = query_layers(query)
    passed = 0
    for query_rank in range(lists.shape[0]):
        span = 0  # the lengths this query rank can pair with: query_cut falls as n grows
        while span < query_cut.shape[0] and query_rank < query_cut[span]:
            span += 1
        chunk = heads[lists[query_rank]] if lists[query_rank] >= 0 and span else 0
        while chunk:
            begin, end = starts[chunk - 1], starts[chunk - 1] + fills[chunk - 1]
            if ordered[chunk - 1]:
                begin = first_length(arena, begin, end, n_low)
                if n_low + span <= LENGTH_CAP:
                    end = first_length(arena, begin, end, n_low + span)
            for i in range(begin, end):
                entry = arena[i]
                n = (entry >> RANK_BITS) & LENGTH_CAP
                if n == LENGTH_CAP:
                    n = flat[(entry >> (LENGTH_BITS + RANK_BITS)) + LENGTH]
                k = n - n_low
                if k < 0 or k >= span or (entry & RANK_MASK) >= pool_cut[k]:
                    continue
                x = min(matches(layers, blooms, i), n)
                found[passed] = entry
                slot_of[passed] = BUCKETS - 1 - min(int(x * scale[k] + 1e-6), BUCKETS - 1)
                sizes[slot_of[passed] + 1] += 1
                passed += 1
            chunk = links[chunk - 1]
    ends = np.cumsum(sizes)
    order = np.empty(passed, np.int64)
    fill = ends[:BUCKETS].copy()
    for k in range(passed):
        order[fill[slot_of[k]]] = found[k]
        fill[slot_of[k]] += 1
    return order, ends


@compiled
def score_from_the_top(query, t, order, ends, flat, masks, mark, top_pos, top_score):
    """Exact scores of the entries of `by_bound`, bucket by bucket, each text once (its stamp set to
    `mark`); stops at a bucket whose bound is at most the threshold and at most the 10th best so far:
    nothing below can change the decision or the top-10. Returns (texts scored, best kept)."""
    m = query.shape[0]
    prev = np.zeros(m + 1, np.int32)
    cur = np.zeros(m + 1, np.int32)
    set_masks(query, masks, True)
    count = kept = 0
    for slot in range(BUCKETS):
        edge = (BUCKETS - slot) / BUCKETS
        if kept == top_pos.shape[0] and edge <= t and edge <= top_score[kept - 1]:
            break
        for k in range(ends[slot], ends[slot + 1]):
            o = order[k] >> (LENGTH_BITS + RANK_BITS)
            if flat[o + STAMP] == mark:
                continue
            flat[o + STAMP] = mark
            count += 1
            score = rouge_l(query, masks, flat, o + HEADER, o + HEADER + flat[o + LENGTH], prev, cur)
            kept = keep_best(flat[o + POSITION], score, kept, top_pos, top_score)
    set_masks(query, masks, False)
    return count, kept
