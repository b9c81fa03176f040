"""LSH banding: datasketch's optimal (bands, rows) and 64-bit band keys for whole batches.

A row's signature may consist of several fields' signatures (shape (docs, fields, num_perm)). Band
i hashes rows [i*r, (i+1)*r) of *every* field together, so two rows share band i only if every
field agrees on that band: the collision probability is prod_f s_f^r. The banding therefore uses
datasketch's optimal parameters for threshold**fields (e.g. 0.49 for instruction AND input at 0.7),
and every candidate is then verified field by field against the real threshold.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

_MULT = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5,
                  fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive/negative areas (datasketch's rule)."""
    from datasketch.lsh import _optimal_param
    return tuple(int(v) for v in _optimal_param(threshold, num_perm, fp_weight, fn_weight))


def lsh_params(threshold: float, num_perm: int, fields: int, bands: int | None = None,
               rows: int | None = None) -> tuple[int, int]:
    if bands and rows:
        if bands * rows > num_perm:
            raise ValueError(f"bands x rows = {bands * rows} exceeds num_perm {num_perm}")
        return bands, rows
    return optimal_bands(round(threshold ** max(fields, 1), 6), num_perm)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h *= _M1
    h ^= h >> np.uint64(33)
    h *= _M2
    return h ^ (h >> np.uint64(33))


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(docs, bands) uint64 keys; the band index is folded in, so keys of different bands differ."""
    sig = signatures.reshape(len(signatures), -1, signatures.shape[-1])
    out = np.empty((len(sig), bands), dtype=np.uint64)
    for band in range(bands):
        block = sig[:, :, band * rows:(band + 1) * rows].reshape(len(sig), -1).astype(np.uint64)
        h = np.full(len(sig), band + 1, dtype=np.uint64)
        for col in range(block.shape[1]):
            h *= _MULT
            h += block[:, col]
        out[:, band] = _fmix64(h)
    return out


def exact_bucket(exact_keys: np.ndarray) -> np.ndarray:
    """64-bit bucket of each 16-byte exact key (first 8 bytes; the band keys are mixed, so a clash
    between the two kinds is a 2^-64 event and is caught by comparing the full key)."""
    return np.frombuffer(b"".join(exact_keys), dtype="<u8")[::2].copy() if len(exact_keys) else \
        np.empty(0, np.uint64)
