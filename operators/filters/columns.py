"""Whole-column helpers (pyarrow.compute): read fields, row languages, script counts.

The filters use these to decide the common rows in C and hand only the rest to the per-row Python
code, which stays the reference: every mask here is a proven shortcut of that code, never a new rule.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.filters.langid import normalize_lang
from operators.filters.script import _HAN
from operators.filters.utf8 import Utf8Rows, char_table

STRING_TYPES = (pa.string(), pa.large_string())
_HAN_TABLE = char_table(_HAN)
# Every character Python's str.isspace() / str.split() treats as whitespace (RE2 class body).
PY_SPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
PY_SPACE_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in PY_SPACE)
# Non-ASCII characters whose str.lower() contains an ASCII letter (U+0130, U+212A): rows holding one
# go to the Python path wherever a check lower-cases text and compares it with ASCII phrases.
LOWER_TO_ASCII = "".join(c for c in map(chr, range(0x80, 0x10000)) if any(x.isascii() for x in c.lower()))
# Non-ASCII characters that Python's re.IGNORECASE matches with an ASCII letter (U+0130, U+0131,
# U+017F, U+212A); RE2's (?i) knows only some of them.
RE_I_TO_ASCII = "".join(c for c in map(chr, range(0x80, 0x10000)) if re.fullmatch("[a-z]", c, re.I))
# Characters whose lower-case form is longer than one character (U+0130).
LOWER_EXPANDS = "".join(c for c in map(chr, range(0x80, 0x10000)) if len(c.lower()) != 1)


def field_array(batch: pa.Table, name: str, optional: bool = False) -> tuple[pa.Array, list[str | None] | None]:
    """(string array with nulls read as "", problems or None when no row has one).

    Same rules as `tests/operators/filters/reference.read_field`: a missing column or a null value is `missing_field:<name>` unless
    `optional`; a column that is not a string column is `wrong_type:<name>` for every non-null value.
    """
    n = batch.num_rows
    missing = None if optional else f"missing_field:{name}"
    if name not in batch.column_names:
        return pa.array([""] * n, pa.string()), (None if optional else [missing] * n)
    column = batch.column(name)
    if column.type not in STRING_TYPES:
        valid = pc.is_valid(column).to_pylist() if n else []
        return pa.array([""] * n, pa.string()), [f"wrong_type:{name}" if ok else missing for ok in valid]
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not array.null_count:
        return array, None
    problems = None if optional else [missing if null else None for null in pc.is_null(array).to_pylist()]
    return pc.fill_null(array, ""), problems


def first_problem(n: int, *problem_lists: list[str | None] | None) -> list[str | None]:
    """Row-wise first problem across lists (None entries = no problem in any row)."""
    out: list[str | None] = [None] * n
    for problems in problem_lists:
        if problems is None:
            continue
        for i, problem in enumerate(problems):
            if out[i] is None and problem is not None:
                out[i] = problem
    return out


def row_lang_array(batch: pa.Table, default: str | None) -> pa.Array:
    """`reference.row_langs` (tests) as an array: normalised `lang` column, else `default`, else ""."""
    fallback = normalize_lang(default) if default else ""
    n = batch.num_rows
    if "lang" not in batch.column_names or batch.column("lang").type not in STRING_TYPES or not n:
        return pa.array([fallback] * n, pa.string())
    encoded = batch.column("lang").combine_chunks().cast(pa.string()).dictionary_encode()
    values = [normalize_lang(v) or fallback for v in encoded.dictionary.to_pylist()]
    indices = encoded.indices
    if not values:  # all null
        return pa.array([fallback] * n, pa.string())
    out = pc.take(pa.array(values, pa.string()), indices)
    return pc.fill_null(out, fallback) if out.null_count else out


def count_han(array: pa.Array) -> pa.Array:
    """Han characters per row (same class as `script.count_han`)."""
    return pa.array(Utf8Rows(array).count(_HAN_TABLE))


def guess_lang_array(array: pa.Array) -> pa.Array:
    """`reference.guess_lang_by_script` (tests) per row: "zh" when Han >= 30% of visible characters (first 2000)."""
    visible = pc.subtract(pc.subtract(pc.utf8_length(array), pc.count_substring(array, " ")),
                          pc.count_substring(array, "\n"))
    limit = pc.multiply(pc.min_element_wise(visible, 2000).cast(pa.float64()), 0.3)
    han = count_han(pc.utf8_slice_codeunits(array, 0, 2000))
    zh = pc.and_(pc.invert(pc.string_is_ascii(array)), pc.greater_equal(han.cast(pa.float64()), limit))
    return pc.if_else(zh, "zh", "en")


def effective_langs(langs: pa.Array, texts: pa.Array) -> pa.Array:
    """Row language, or the script guess from `texts` where it is unknown."""
    unknown = pc.equal(langs, "")
    if not pc.any(unknown).as_py():
        return langs
    return pc.if_else(unknown, guess_lang_array(texts), langs)


def indices(mask: pa.Array) -> list[int]:
    """Row numbers where `mask` is true."""
    return pc.indices_nonzero(mask).to_pylist() if len(mask) else []


def word_counts(array: pa.Array) -> np.ndarray:
    """`len(text.split())` per row: runs of non-whitespace characters."""
    rows = Utf8Rows(array)
    return rows.per_row(rows.run_starts(rows.spaces()))


def char_counts(array: pa.Array) -> np.ndarray:
    """`length.text_length` for Chinese: characters minus spaces, line breaks, tabs and U+3000."""
    rows = Utf8Rows(array)
    data = rows.data
    blanks = np.flatnonzero((data == 0x20) | (data == 0x0A) | (data == 0x09) | (data == 0x0D))
    return rows.lengths() - rows.per_row(blanks) - rows.per_row(rows.positions_of("\u3000"))


def text_lengths(array: pa.Array, by_chars: pa.Array) -> np.ndarray:
    """`length.text_length` per row: characters where `by_chars`, else words."""
    out = np.zeros(len(array), dtype=np.int64)
    for mask, count in ((by_chars, char_counts), (pc.invert(by_chars), word_counts)):
        rows = pc.indices_nonzero(mask)
        if len(rows):
            out[rows.to_numpy()] = np.asarray(count(pc.take(array, rows)))
    return out
