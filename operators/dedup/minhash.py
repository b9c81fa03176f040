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

from operators.dedup.text import char_units, hash_units, normalize_for_dedup, word_units

EMPTY = np.uint32(0xFFFFFFFF)  # the value of an empty datasketch MinHash
_CHUNK_ROWS = 2048  # shingles per permutation chunk: 2048 x 128 x 4 B = 1 MiB, stays in cache


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


def _permute_min(rows: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out[d] = min over j of (a * rows[d, j] + b) mod 2^32, in chunks that stay in cache."""
    docs, width = rows.shape
    step = max(1, _CHUNK_ROWS // width)
    buf = np.empty((step, width, len(a)), dtype=np.uint32)
    for lo in range(0, docs, step):
        part = buf[:min(step, docs - lo)]
        np.multiply(rows[lo:lo + step, :, None], a, out=part)
        part += b
        part.min(axis=1, out=out[lo:lo + len(part)])


def minhash_reduce(hashes: np.ndarray, counts: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """(docs, num_perm) uint32 signatures from 32-bit shingle hashes grouped by `counts`.

    Documents are grouped by shingle count rounded up to a multiple of 8 and padded by repeating
    their last shingle (which cannot change a minimum), so the reduction is a dense `min(axis=1)`.
    Documents with more than _CHUNK_ROWS shingles are reduced chunk by chunk (bounded memory).
    """
    a, b = permutations(num_perm, seed)
    counts = np.asarray(counts, dtype=np.int64)
    out = np.full((len(counts), num_perm), EMPTY, dtype=np.uint32)
    if not len(hashes):
        return out
    mixed = fmix32(hashes.astype(np.uint32))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    width = (counts + 7) // 8 * 8
    short = (counts > 0) & (counts <= _CHUNK_ROWS)
    for w in np.unique(width[short]):
        docs = np.flatnonzero(short & (width == w))
        cols = np.minimum(np.arange(w), counts[docs, None] - 1)
        rows = mixed[starts[docs, None] + cols]
        res = np.empty((len(docs), num_perm), dtype=np.uint32)
        _permute_min(rows, a, b, res)
        out[docs] = res
    for d in np.flatnonzero(counts > _CHUNK_ROWS):
        doc = mixed[starts[d]:starts[d] + counts[d]]
        pad = (-len(doc)) % _CHUNK_ROWS
        rows = np.concatenate((doc, np.repeat(doc[-1:], pad))).reshape(-1, _CHUNK_ROWS)
        res = np.empty((len(rows), num_perm), dtype=np.uint32)
        _permute_min(rows, a, b, res)
        out[d] = res.min(axis=0)
    return out


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


def shingle_sets(hashes: np.ndarray, counts: np.ndarray, limit: int) -> list[bytes]:
    """Per text: uint32 length + sorted unique shingle hashes (or NO_SET if over `limit`)."""
    out, start = [], 0
    for count in counts.tolist():
        if count > limit:
            out.append(NO_SET.tobytes())
        else:
            values = np.unique(hashes[start:start + count])
            out.append(np.uint32(len(values)).tobytes() + values.tobytes())
        start += count
    return out


def parse_sets(blob: bytes, fields: int) -> list[np.ndarray | None]:
    values = np.frombuffer(blob, dtype=np.uint32)
    sets, pos = [], 0
    for _ in range(fields):
        n = int(values[pos])
        if n == NO_SET:
            sets.append(None)
            pos += 1
        else:
            sets.append(values[pos + 1:pos + 1 + n])
            pos += 1 + n
    return sets


def set_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def jaccard_estimate(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Share of agreeing signature values, row by row (datasketch's MinHash.jaccard)."""
    return (left == right).mean(axis=-1)
