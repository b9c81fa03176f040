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

from operators.dedup import kernels

_MULT = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)


@lru_cache(maxsize=64)
def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5,
                  fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive/negative areas (datasketch's rule)."""
    from datasketch.lsh import _optimal_param
    return tuple(int(v) for v in _optimal_param(threshold, num_perm, fp_weight, fn_weight))


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - similarity ** rows) ** bands


@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int, fields: int, bands: int | None = None,
               rows: int | None = None, min_recall: float = 0.98) -> tuple[int, int]:
    """Configured (bands, rows), or datasketch's optimum for a banding threshold that starts at
    threshold**fields and is lowered until a pair at `threshold` (the other fields identical) becomes
    a candidate with probability >= min_recall: datasketch's optimum at the threshold itself finds
    only about half the pairs that sit right at it; verification removes the extra candidates."""
    if bands and rows:
        if bands * rows > num_perm:
            raise ValueError(f"bands x rows = {bands * rows} exceeds num_perm {num_perm}")
        return bands, rows
    banding = round(threshold ** max(fields, 1), 2)
    while True:
        b, r = optimal_bands(banding, num_perm)
        if candidate_probability(threshold, b, r) >= min_recall or banding <= 0.05:
            return b, r
        banding = round(banding - 0.01, 2)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h *= _M1
    h ^= h >> np.uint64(33)
    h *= _M2
    return h ^ (h >> np.uint64(33))


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(docs, bands) uint64 keys; the band index is folded in, so keys of different bands differ."""
    sig = signatures.reshape(len(signatures), -1, signatures.shape[-1])
    if kernels.ENABLED:
        return kernels.band_keys(np.ascontiguousarray(sig, np.uint32), bands, rows)
    return band_keys_numpy(sig, bands, rows)


def band_keys_numpy(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """`band_keys` with numpy blocks (the reference of the compiled kernel)."""
    sig = signatures.reshape(len(signatures), -1, signatures.shape[-1])
    fields = sig.shape[1]
    out = np.empty((len(sig), bands), dtype=np.uint64)
    step = 4096  # documents per block: the working set stays in cache
    for lo in range(0, len(sig), step):
        part = sig[lo:lo + step, :, :bands * rows].reshape(-1, fields, bands, rows)
        cols = part.transpose(1, 3, 0, 2).astype(np.uint64)  # (field, row, doc, band), contiguous
        h = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64), (len(part), bands)).copy()
        for field in range(fields):  # all bands at once: field-major, then row, as one sequence
            for col in range(rows):
                h *= _MULT
                h += cols[field, col]
        out[lo:lo + step] = _fmix64(h)
    return out
