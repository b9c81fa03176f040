"""ROUGE-L F-measure as the `rouge-score` package computes it, on integer token ids.

rouge-score's default tokenizer lowercases, keeps runs of [a-z0-9] and drops everything else, so
Chinese text would score 0; here each CJK character is one more token ("Chinese scored on
characters"), which leaves English scores identical to rouge-score's. The LCS kernel is compiled
(numba, the dedup kernels' `compiled`) and scores many pool texts against one query per call.
"""
from __future__ import annotations

import re

import numpy as np

from operators.dedup.kernels import compiled

_TOKEN = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")


def rouge_tokens(text: str) -> list[str]:
    return _TOKEN.findall((text or "").lower())


@compiled
def lcs_many(query, flat, offsets, candidates, out):
    """out[c] = LCS length of `query` and pool text `candidates[c]` (tokens flat[offsets[p]:offsets[p+1]])."""
    m = query.shape[0]
    prev = np.zeros(m + 1, np.int32)
    cur = np.zeros(m + 1, np.int32)
    for c in range(candidates.shape[0]):
        p = candidates[c]
        for j in range(m + 1):
            prev[j] = 0
        for i in range(offsets[p], offsets[p + 1]):
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
        out[c] = prev[m]


def f_measure(lcs: np.ndarray, query_len: int, other_lens: np.ndarray) -> np.ndarray:
    """rouge-score's fmeasure(precision, recall) with the same float operations, element-wise."""
    lcs = lcs.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = lcs / other_lens
        recall = lcs / query_len
        f = 2 * precision * recall / (precision + recall)
    return np.where(lcs > 0, f, 0.0)
