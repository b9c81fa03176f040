"""Compiled loops of the dedup hot path (numba): shingle hashing, MinHash with shingle sets, band
keys, the exact-key byte hash and shingle-set rows, each fused into one pass over its input (the
candidate step's loops are in kernels_pairs.py).

Every kernel computes bit for bit what its numpy twin computes (`text.hash_units_numpy`,
`minhash.minhash_and_sets_numpy`, `lsh.band_keys_numpy`, `columns.bytes_hash128`); the twins stay as the
reference, are used when numba is unavailable (`ENABLED` false, or INSTRUCTPIPE_NO_NUMBA=1), and
tests compare both. Compiled code is cached on disk (numba `cache=True`), so a process pays the
compilation once per machine, not per run.
"""
from __future__ import annotations

import os

import numpy as np

try:  # pragma: no cover - exercised by whichever branch the environment has
    from numba import njit
    ENABLED = os.environ.get("INSTRUCTPIPE_NO_NUMBA", "") in ("", "0")
except ImportError:  # pragma: no cover
    njit, ENABLED = None, False

_MULT = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_MASK32 = np.uint64(0xFFFFFFFF)


def compiled(func):
    """numba's njit with an on-disk cache (the plain function when numba is missing)."""
    return njit(cache=True, nogil=True, fastmath=False)(func) if njit is not None else func


@compiled
def _fmix64(h):
    h ^= h >> np.uint64(33)
    h *= _M1
    h ^= h >> np.uint64(33)
    h *= _M2
    return h ^ (h >> np.uint64(33))


@compiled
def _fmix32(h):
    h = np.uint32(h ^ (h >> np.uint32(16)))
    h = np.uint32(h * np.uint32(0x85EBCA6B))
    h = np.uint32(h ^ (h >> np.uint32(13)))
    h = np.uint32(h * np.uint32(0xC2B2AE35))
    return np.uint32(h ^ (h >> np.uint32(16)))


@compiled
def shingle_hashes(units, lengths, n):
    """(32-bit hash of every n-unit window of every document, shingles per document); a document
    shorter than n is one shingle (the whole sequence), an empty one has none."""
    docs = len(lengths)
    counts = np.empty(docs, np.int64)
    total = 0
    for d in range(docs):
        length = lengths[d]
        counts[d] = length - n + 1 if length >= n else (1 if length > 0 else 0)
        total += counts[d]
    out = np.empty(total, np.uint32)
    start = 0
    k = 0
    for d in range(docs):
        length = lengths[d]
        width = n if length >= n else length
        for w in range(counts[d]):
            h = np.uint64(width)
            for j in range(width):
                h = h * _MULT + np.uint64(units[start + w + j])
            out[k] = np.uint32(_fmix64(h) >> np.uint64(32))
            k += 1
        start += length
    return out, counts


@compiled
def minhash_sets(hashes, counts, a, b, limit):
    """(docs, num_perm) signatures of the mixed shingle hashes (min of a*h+b mod 2^32, datasketch's
    affine32 scheme) and the mixed hashes themselves, in shingle order, of every document with at
    most `limit` shingles (flat values + one length per document, -1 when over the limit)."""
    docs, num_perm = len(counts), len(a)
    sig = np.empty((docs, num_perm), np.uint32)
    set_lens = np.full(docs, -1, np.int64)
    room = 0
    for d in range(docs):
        if counts[d] <= limit:
            room += counts[d]
    values = np.empty(room, np.uint32)
    mixed = np.empty(len(hashes), np.uint32)
    for i in range(len(hashes)):
        mixed[i] = _fmix32(hashes[i])
    start = 0
    filled = 0
    for d in range(docs):
        count = counts[d]
        if num_perm == 128:  # a constant trip count lets the compiler unroll the vector loop
            _min_affine_128(mixed, start, start + count, a, b, sig[d])
        else:
            _min_affine(mixed, start, start + count, a, b, sig[d])
        if count <= limit:
            values[filled:filled + count] = mixed[start:start + count]
            set_lens[d] = count
            filled += count
        start += count
    return sig, values, set_lens


@compiled
def _min_affine(mixed, lo, hi, a, b, out):
    """out[p] = min over mixed[lo:hi] of (a[p] * h + b[p]) mod 2^32 (the loop over p vectorises)."""
    for p in range(len(a)):
        out[p] = 0xFFFFFFFF
    for i in range(lo, hi):
        h = mixed[i]
        for p in range(len(a)):
            v = np.uint32(a[p] * h + b[p])
            out[p] = v if v < out[p] else out[p]


@compiled
def _min_affine_128(mixed, lo, hi, a, b, out):
    for p in range(128):
        out[p] = 0xFFFFFFFF
    for i in range(lo, hi):
        h = mixed[i]
        for p in range(128):
            v = np.uint32(a[p] * h + b[p])
            out[p] = v if v < out[p] else out[p]


@compiled
def band_keys(sig, bands, rows):
    """(docs, bands) uint64 keys of (docs, fields, num_perm) signatures; see `lsh.band_keys`."""
    docs, fields = sig.shape[0], sig.shape[1]
    out = np.empty((docs, bands), np.uint64)
    for d in range(docs):
        for band in range(bands):
            h = np.uint64(band + 1)
            for f in range(fields):
                for r in range(rows):
                    h = h * _MULT + np.uint64(sig[d, f, band * rows + r])
            out[d, band] = _fmix64(h)
    return out


@compiled
def bytes_hash128(data, begin, end, coef1, coef2, k2):
    """Two 64-bit hashes of every row's bytes; see `columns.bytes_hash128`."""
    rows = len(begin)
    first = np.empty(rows, np.uint64)
    second = np.empty(rows, np.uint64)
    for r in range(rows):
        s1 = np.uint64(0)
        s2 = np.uint64(0)
        for i in range(end[r] - begin[r]):
            v = np.uint64(data[begin[r] + i]) + np.uint64(1)
            s1 += v * coef1[i]
            s2 += v * coef2[i]
        size = np.uint64(end[r] - begin[r]) * k2
        first[r] = _fmix64(s1 ^ size ^ np.uint64(1))
        second[r] = _fmix64(s2 ^ size ^ np.uint64(2))
    return first, second


@compiled
def set_rows(lens, values, field_starts, no_set):
    """Rows of `fields x (length or no_set, values)` uint32 words from per-field flat sets (`values`
    holds field f's sets from field_starts[f] on, one after another); returns (words, words per row)."""
    rows, fields = lens.shape
    row_words = np.empty(rows, np.int64)
    total = 0
    for r in range(rows):
        size = 0
        for f in range(fields):
            size += 1 + max(lens[r, f], 0)
        row_words[r] = size
        total += size
    out = np.empty(total, np.uint32)
    pos = field_starts.copy()
    k = 0
    for r in range(rows):
        for f in range(fields):
            length = lens[r, f]
            out[k] = no_set if length < 0 else length
            k += 1
            for i in range(max(length, 0)):
                out[k + i] = values[pos[f] + i]
            k += max(length, 0)
            pos[f] += max(length, 0)
    return out, row_words
