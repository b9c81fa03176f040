"""ROUGE-L F-measure as the `rouge-score` package computes it, on integer token ids.

rouge-score's default tokenizer lowercases, keeps runs of [a-z0-9] and drops everything else, so
Chinese text would score 0; here each CJK character is one more token ("Chinese scored on
characters"), which leaves English scores identical to rouge-score's. The LCS kernels are compiled
(numba, the dedup kernels' `compiled`): Hyyrö's bit-vector LCS for queries of up to 64 tokens (one
machine word, one step per pool token), the dynamic programme for longer ones.
"""
from __future__ import annotations

import re

import numpy as np

from operators.dedup.kernels import compiled

_TOKEN = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
WORD = 64


def rouge_tokens(text: str) -> list[str]:
    return _TOKEN.findall((text or "").lower())


@compiled
def set_masks(query, masks, on):
    """masks[token] gets (on) or loses (not on) the bits of the query positions holding it; a query
    of more than WORD tokens is left to the dynamic programme (negative ids never match)."""
    if query.shape[0] > 64:
        return
    for j in range(query.shape[0]):
        if query[j] >= 0:
            masks[query[j]] = masks[query[j]] | (np.uint64(1) << np.uint64(j)) if on else np.uint64(0)


@compiled
def lcs_bits(m, masks, flat, start, end):
    """LCS length of a query of m <= 64 tokens (its position masks set) and flat[start:end]."""
    full = np.uint64(0xFFFFFFFFFFFFFFFF)
    v = full
    for i in range(start, end):
        y = flat[i]
        if y < masks.shape[0]:
            u = v & masks[y]
            v = (v + u) | (v - u)
    zeros = ~v
    if m < 64:
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
def lcs_many(query, masks, flat, offsets, candidates, count, out):
    """out[c] = LCS length of `query` and pool text candidates[c], for c < count (masks set for query)."""
    m = query.shape[0]
    prev = np.zeros(m + 1, np.int32)
    cur = np.zeros(m + 1, np.int32)
    for c in range(count):
        p = candidates[c]
        if m <= 64:
            out[c] = lcs_bits(m, masks, flat, offsets[p], offsets[p + 1])
        else:
            out[c] = lcs_dp(query, flat, offsets[p], offsets[p + 1], prev, cur)


def f_measure(lcs: np.ndarray, query_len: int, other_lens: np.ndarray) -> np.ndarray:
    """rouge-score's fmeasure(precision, recall) with the same float operations, element-wise."""
    lcs = lcs.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / other_lens
        recall = lcs / query_len
        f = 2 * precision * recall / (precision + recall)
    return np.where(lcs > 0, f, 0.0)
