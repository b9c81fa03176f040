"""Batch MinHash signatures, bit-compatible with datasketch 2.x's default "affine32" scheme.

datasketch.MinHash(num_perm, seed) draws odd `a` and `b` with numpy's RandomState(seed), pre-mixes
each 32-bit shingle hash with the MurmurHash3 finalizer and keeps min(a * h + b mod 2^32) per
permutation. We do the same over a whole batch: shingle hashes of all documents form one array,
the permutations are applied in cache-sized chunks and reduced per document with
`np.minimum.reduceat`. With `hashfunc=shingle_hash32` (see text.py) datasketch produces identical
hash values, so a row of our signature matrix is usable as `LeanMinHash(seed=..., hashvalues=row,
scheme="affine32")`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np

from operators.dedup import kernels
from operators.dedup.text import char_units, hash_units, normalize_for_dedup, word_units

EMPTY = np.uint32(0xFFFFFFFF)  # the value of an empty datasketch MinHash
_CHUNK_ROWS = 2048  # longer documents are signed in chunks of this many shingles
_BLOCK = 1 << 17  # shingle values per kernel block: 512 KiB of uint32


@lru_cache(maxsize=8)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) parameters datasketch.MinHash(num_perm, seed, scheme="affine32") uses."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _min_permuted(mat: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out[p, d] = min over k of (a[p] * mat[k, d] + b[p]) mod 2^32. `mat` is (shingles, docs):
    every numpy call runs over a whole contiguous block (no per-shingle inner loop of num_perm)."""
    buf = np.empty(mat.shape, dtype=np.uint32)
    for p in range(len(a)):
        np.multiply(mat, a[p], out=buf)
        buf += b[p]
        np.minimum.reduce(buf, axis=0, out=out[p])


def _within(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for every segment, concatenated."""
    total = int(lengths.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def minhash_and_sets(hashes: np.ndarray, counts: np.ndarray, num_perm: int, seed: int,
                     limit: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(docs, num_perm) uint32 signatures from 32-bit shingle hashes grouped by `counts`, and the
    shingle set of every doc with at most `limit` shingles as a flat array plus one length per doc
    (-1: over the limit, no set). A set holds the *mixed* hashes (fmix32 of the shingle hash, a
    bijection: the same Jaccard as the shingle hashes themselves) in shingle order; repeats are
    removed where sets are compared (`columns.pair_jaccard`), for candidate pairs only."""
    a, b = permutations(num_perm, seed)
    if kernels.ENABLED:
        return kernels.minhash_sets(np.ascontiguousarray(hashes, np.uint32), np.asarray(counts, np.int64),
                                    a, b, limit)
    return minhash_and_sets_numpy(hashes, counts, num_perm, seed, limit)


def minhash_and_sets_numpy(hashes: np.ndarray, counts: np.ndarray, num_perm: int, seed: int,
                           limit: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`minhash_and_sets` with whole-array numpy passes (the reference of the compiled kernel).

    Documents are grouped by shingle count rounded up to a multiple of 8 and padded by repeating
    their last shingle (which changes no minimum); each group is laid out as a (shingles, docs)
    matrix in blocks of about _BLOCK values, so every step is a long SIMD pass. Documents with more
    than _CHUNK_ROWS shingles are reduced chunk by chunk (bounded memory).
    """
    a, b = permutations(num_perm, seed)
    counts = np.asarray(counts, dtype=np.int64)
    out = np.full((len(counts), num_perm), EMPTY, dtype=np.uint32)
    mixed = fmix32(hashes.astype(np.uint32, copy=False))
    with_set = counts <= limit
    set_lens = np.where(with_set, counts, -1).astype(np.int64)
    values = mixed[np.repeat(with_set, counts)]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    width = (counts + 7) // 8 * 8
    short = (counts > 0) & (counts <= _CHUNK_ROWS)
    for w in np.unique(width[short]).tolist():
        group = np.flatnonzero(short & (width == w))
        step = max(1, _BLOCK // w)
        for lo in range(0, len(group), step):
            docs = group[lo:lo + step]
            idx = starts[docs] + np.minimum(np.arange(w)[:, None], counts[docs] - 1)  # (w, docs)
            res = np.empty((num_perm, len(docs)), dtype=np.uint32)
            _min_permuted(mixed[idx], a, b, res)
            out[docs] = res.T
    for d in np.flatnonzero(counts > _CHUNK_ROWS).tolist():
        doc = mixed[starts[d]:starts[d] + counts[d]]
        pad = (-len(doc)) % _CHUNK_ROWS
        rows = np.concatenate((doc, np.repeat(doc[-1:], pad))).reshape(-1, _CHUNK_ROWS)
        res = np.empty((num_perm, len(rows)), dtype=np.uint32)
        _min_permuted(np.ascontiguousarray(rows.T), a, b, res)
        out[d] = res.min(axis=1)
    return out, values, set_lens


def minhash_reduce(hashes: np.ndarray, counts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """(docs, num_perm) uint32 signatures from 32-bit shingle hashes grouped by `counts`."""
    return minhash_and_sets(hashes, counts, num_perm, seed)[0]


@dataclass(frozen=True)
class MinHasher:
    """Signs normalised texts; the parameters are recorded in every persistent index."""

    num_perm: int = 128
    seed: int = 1
    ngram: int = 5
    unit: str = "char"  # "char" or "word"
    _words: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def shingle_hashes(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(32-bit shingle hashes of all texts concatenated, shingles per text)."""
        if self.unit == "char":
            units, lengths = char_units(texts)
        else:
            units, lengths = word_units(texts, self._words if len(self._words) < 1_000_000 else None)
        return hash_units(units, lengths, self.ngram)

    def sign_normalized(self, texts: Sequence[str]) -> np.ndarray:
        hashes, counts = self.shingle_hashes(texts)
        return minhash_reduce(hashes, counts, self.num_perm, self.seed)

    def sign(self, texts: Sequence[str | None]) -> np.ndarray:
        return self.sign_normalized([normalize_for_dedup(t) for t in texts])


NO_SET = np.uint32(0xFFFFFFFF)  # length marker: shingle set too large, use the estimate


def set_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.unique(a), np.unique(b)
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
