"""Dedup text normal form and vectorised shingle hashing (no Python object per shingle).

A text is normalised (NFKC, lowercase, punctuation and symbols turned into spaces, whitespace
collapsed, spaces between CJK characters removed; digits are kept), then cut into character
n-grams (default 5) or word n-grams. Each shingle gets a 32-bit hash computed for a whole batch at
once with numpy over the UTF-32 code points; `shingle_hash32` is the same function for one shingle
string, so it can be handed to `datasketch.MinHash(hashfunc=...)` for bit-identical signatures.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Sequence

import numpy as np

from operators.dedup import kernels

_SEP = "\x1e"  # joins a batch; a text containing it is normalised on its own
_CJK = "\u2e80-\u2fff\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CJK_GAP = re.compile(rf"([{_CJK}]) (?=[{_CJK}])")
_WORDS = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")


class _FoldTable(dict):
    """str.translate table: letters, digits and combining marks stay; everything else -> space."""

    def __missing__(self, code: int) -> int:
        char = chr(code)
        keep = char == _SEP or (char != "_" and (char.isalnum() or unicodedata.category(char)[0] == "M"))
        self[code] = code if keep else 32
        return self[code]


_FOLD = _FoldTable()


_MASK64 = (1 << 64) - 1
_MULT = 0x9E3779B97F4A7C15  # polynomial base (odd, golden ratio)
_M1, _M2 = 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53


def normalize_batch(texts: Sequence[str | None]) -> list[str]:
    """Dedup normal form of every text: NFKC, lowercase, punctuation and symbols -> space,
    whitespace collapsed, spaces between CJK characters removed; digits kept. Done on the joined
    batch so that each step is one C-level pass."""
    items = [t or "" for t in texts]
    joined = _SEP.join(items)
    if joined.count(_SEP) != max(len(items) - 1, 0):
        return [_normalize_one(t) for t in items]
    joined = unicodedata.normalize("NFKC", joined)
    if joined.count(_SEP) != max(len(items) - 1, 0):
        return [_normalize_one(t) for t in items]
    return _fold(joined) if items else []


def _fold(text: str) -> list[str]:
    """Lowercase, fold, collapse spaces, then close gaps between CJK characters; split at _SEP.
    After the fold table the only whitespace left is " ", so `split()` collapses exactly it."""
    parts = [" ".join(part.split()) for part in text.lower().translate(_FOLD).split(_SEP)]
    if text.isascii():
        return parts
    joined = _SEP.join(parts)
    return _CJK_GAP.sub(r"\1", joined).split(_SEP) if _CJK_CHAR.search(joined) else parts


def _normalize_one(text: str) -> str:
    return _fold(unicodedata.normalize("NFKC", text).replace(_SEP, " "))[0]


def normalize_for_dedup(text: str | None) -> str:
    return _normalize_one(text or "")


_DIGITS = re.compile(r"\d+")


_K1, _K2 = 0xD6E8FEB86659FD93, 0xA0761D6478BD642F


def _bytes_hash128_int(data: bytes) -> tuple[int, int]:
    out = []
    for salt in (1, 2):
        total = 0
        for pos, byte in enumerate(data):
            coefficient = _fmix64_int((pos * _K1 + salt) & _MASK64) | 1
            total = (total + (byte + 1) * coefficient) & _MASK64
        out.append(_fmix64_int(total ^ (len(data) * _K2 & _MASK64) ^ salt))
    return out[0], out[1]


def exact_key(texts: Sequence[str]) -> bytes:
    """24 bytes for already normalised field texts (one row; `columns.exact_keys` does a whole
    column): a 128-bit hash of the UTF-8 texts joined by \\x1f (the exact key) followed by a
    64-bit hash of each field's numbers in order (the number key)."""
    text = "\x1f".join(texts).encode("utf-8")
    numbers = "\x1f".join(" ".join(_DIGITS.findall(t)) for t in texts).encode("utf-8")
    h1, h2 = _bytes_hash128_int(text)
    return b"".join(v.to_bytes(8, "little") for v in (h1, h2, _bytes_hash128_int(numbers)[0]))


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * _M1) & _MASK64
    h ^= h >> 33
    h = (h * _M2) & _MASK64
    return h ^ (h >> 33)


def _fold_int(values: Sequence[int]) -> int:
    h = len(values)
    for v in values:
        h = (h * _MULT + v) & _MASK64
    return h


def shingle_hash32(shingle: str) -> int:
    """Hash of one character shingle (pass as datasketch `hashfunc` with `str` updates)."""
    return _fmix64_int(_fold_int([ord(c) for c in shingle])) >> 32


def word_hash64(word: str) -> int:
    return _fmix64_int(_fold_int([ord(c) for c in word]))


def word_shingle_hash32(shingle: str) -> int:
    """Hash of one word shingle given as words joined by single spaces (datasketch `hashfunc`)."""
    return _fmix64_int(_fold_int([word_hash64(w) for w in shingle.split(" ")])) >> 32


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h *= np.uint64(_M1)
    h ^= h >> np.uint64(33)
    h *= np.uint64(_M2)
    return h ^ (h >> np.uint64(33))


def _rolling(units: np.ndarray, n: int) -> np.ndarray:
    """Polynomial hash (seeded with n) of every window of n units; len(units) - n + 1 values."""
    count = len(units) - n + 1
    h = np.full(count, n, dtype=np.uint64)
    mult = np.uint64(_MULT)
    for j in range(n):
        h *= mult
        h += units[j:j + count]
    return h


def hash_units(units: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit shingle hashes of concatenated unit sequences; returns (hashes, shingles per doc).

    A sequence shorter than n gets one shingle (the whole sequence); an empty one gets none.
    """
    if kernels.ENABLED:
        return kernels.shingle_hashes(np.ascontiguousarray(units), np.asarray(lengths, np.int64), n)
    return hash_units_numpy(units, lengths, n)


def hash_units_numpy(units: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """`hash_units` with whole-array numpy passes (the reference of the compiled kernel).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    full = np.maximum(lengths - n + 1, 0)
    total = int(full.sum())
    if total:
        windows = _rolling(units, n)
        has = full > 0  # window i is a shingle iff start <= i < start + full of its document
        edges = np.bincount(starts[has], minlength=len(windows) + 1)[:len(windows) + 1] - np.bincount(
            (starts + full)[has], minlength=len(windows) + 1)[:len(windows) + 1]
        hashes = windows[np.cumsum(edges[:len(windows)]) > 0]
    else:
        hashes = np.empty(0, np.uint64)
    short = np.nonzero((lengths > 0) & (lengths < n))[0]
    counts = full.copy()
    if len(short):
        counts[short] = 1
        extra = np.array([_fold_int(units[starts[i]:starts[i] + lengths[i]].tolist()) for i in short],
                         dtype=np.uint64)
        # place each short doc's single shingle in its doc position
        order = np.concatenate((np.repeat(np.arange(len(lengths)), full), short))
        hashes = np.concatenate((hashes, extra))[np.argsort(order, kind="stable")]
    return (_fmix64(hashes) >> np.uint64(32)).astype(np.uint32), counts


def char_units(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(code points of all texts concatenated, length of each text)."""
    joined = "".join(texts).encode("utf-32-le", "surrogatepass")
    return np.frombuffer(joined, dtype=np.uint32).astype(np.uint64), np.fromiter(
        (len(t) for t in texts), dtype=np.int64, count=len(texts))


def word_units(texts: Sequence[str], cache: dict[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(word hashes of all texts concatenated, word count of each text); CJK characters are words."""
    cache = {} if cache is None else cache
    values, lengths = [], []
    for text in texts:
        words = _WORDS.findall(text)
        lengths.append(len(words))
        for w in words:
            h = cache.get(w)
            if h is None:
                h = cache[w] = word_hash64(w)
            values.append(h)
    return np.array(values, dtype=np.uint64), np.array(lengths, dtype=np.int64)


def word_tokens(normalized: str) -> list[str]:
    """Words of a normalised text; each CJK character is a word."""
    return _WORDS.findall(normalized)


def shingles(text: str, n: int = 5, unit: str = "char") -> list[str]:
    """The shingle strings of one normalised text (reference and datasketch comparison)."""
    parts = list(text) if unit == "char" else _WORDS.findall(text)
    if not parts:
        return []
    joiner = "" if unit == "char" else " "
    if len(parts) < n:
        return [joiner.join(parts)]
    return [joiner.join(parts[i:i + n]) for i in range(len(parts) - n + 1)]
