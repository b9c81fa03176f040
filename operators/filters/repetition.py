"""Degenerate repetition: the share of repeated token n-grams, and sound bounds that spare computing it.

Tokens (`script.TOKEN_RE` on the lower-cased text; `str.split()` on ASCII text is the same): every
Han / kana / hangul character, and every run of other characters between whitespace and those.
A row can reach a threshold only when its distinct n-grams are few, and distinct n-grams >= distinct
tokens - (n - 1): each distinct token starts an n-gram of its own, except those seen only in the last
n - 1 positions. The bounds count distinct tokens from below and skip the rows they prove fine.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from operators.filters.script import TOKEN_RE
from operators.filters.utf8 import Utf8Rows, char_table, mark

_CJK_CHARS = TOKEN_RE.pattern[1:TOKEN_RE.pattern.index("]")]
_CJK_SET = frozenset(chr(i) for a, b in re.findall("(.)-(.)", _CJK_CHARS) for i in range(ord(a), ord(b) + 1))
_CJK_TABLE = char_table(_CJK_CHARS)
_ASCII_LOWER = np.array([ord(chr(b).lower()) if b < 0x80 else b for b in range(256)], dtype=np.uint64)
_BUCKET_BITS = 10  # distinct tokens are counted as distinct hash buckets: 1024 per row at most


def repetition_ratio(text: str, n: int, min_tokens: int) -> float:
    """1 - distinct n-grams / n-grams over the text's tokens; 0.0 below `min_tokens` tokens."""
    tokens = text.lower().split() if text.isascii() else TOKEN_RE.findall(text.lower())
    if len(tokens) < max(min_tokens, n + 1):
        return 0.0
    total = len(tokens) - n + 1
    distinct = len(set(zip(*(tokens[i:] for i in range(n)))) if n > 1 else set(tokens))
    return round(1.0 - distinct / total, 4)


def may_repeat(text: str, n: int, max_ratio: float) -> bool:
    """False when distinct tokens alone keep the repeated n-gram share below `max_ratio`.

    Non-ASCII text first tries distinct CJK characters (each one a token) against its length (at
    least its token count).
    """
    if not text.isascii():
        total = len(text) - n + 1
        if total <= 0 or 1.0 - (len(_CJK_SET.intersection(text)) - (n - 1)) / total + 0.001 < max_ratio:
            return False
        tokens = TOKEN_RE.findall(text.lower())
    else:
        tokens = text.lower().split()
    total = len(tokens) - n + 1
    return total > 0 and 1.0 - (len(set(tokens)) - (n - 1)) / total + 0.001 >= max_ratio


def may_repeat_column(texts: pa.Array, n: np.ndarray, max_ratio: np.ndarray) -> np.ndarray:
    """`may_repeat` for a whole column (per-row `n` and `max_ratio`), from fewer distinct tokens:
    CJK characters by code point, and ASCII runs by length and first two and last two bytes."""
    rows = Utf8Rows(texts)
    positions, codes = rows.wide_chars
    cjk = np.take(_CJK_TABLE, codes)
    cjk_positions, cjk_codes = positions[cjk], codes[cjk].astype(np.uint64)
    separator = rows.spaces()
    mark(separator, cjk_positions, 3)
    starts, ends = rows.run_starts(separator), rows.run_ends(separator)
    ascii_ = _ascii_runs(rows.data, separator, starts)
    keys = np.concatenate([_run_keys(rows.data, starts[ascii_], ends[ascii_]), cjk_codes])
    owners = np.concatenate([rows.rows_of(starts[ascii_]), rows.rows_of(cjk_positions)])
    distinct = _distinct_buckets(keys, owners, rows.n)
    total = rows.per_row(starts) + rows.per_row(cjk_positions) - n + 1  # n-grams
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = 1.0 - (distinct - (n - 1)) / total + 0.001
    return (total > 0) & (bound >= max_ratio)


def _ascii_runs(data: np.ndarray, separator: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Runs of ASCII bytes only (lower-casing other characters may make two different runs equal)."""
    pure = np.ones(len(starts), dtype=bool)
    other = np.flatnonzero(~separator & (data >= 0x80))
    pure[np.searchsorted(starts, other, side="right") - 1] = False
    return pure


def _run_keys(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Equal for runs equal up to ASCII case: length and the lower-cased first two and last two bytes."""
    key = (ends - starts).astype(np.uint64)
    for at in (starts, np.minimum(starts + 1, ends), np.maximum(ends - 1, starts), ends):
        key = (key << np.uint64(8)) | np.take(_ASCII_LOWER, np.take(data, at))
    return key


def _distinct_buckets(keys: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """Per row, distinct hash buckets among its keys (never more than its distinct keys)."""
    buckets = ((keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _BUCKET_BITS)).astype(np.int64)
    seen = np.zeros(n_rows << _BUCKET_BITS, dtype=bool)
    seen[(rows << _BUCKET_BITS) | buckets] = True
    # a bool is a byte holding 0 or 1: the set bits of the 64-bit words count the True values
    return np.bitwise_count(seen.view(np.uint64)).reshape(n_rows, -1).sum(axis=1, dtype=np.int64)
