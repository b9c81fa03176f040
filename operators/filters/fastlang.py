"""`langid.identify` over a whole column: the two common fast-path answers decided in C.

A row is answered here only when `identify` is certain to give the same answer:
- "empty": the text is "";
- "nolang": ASCII (first `max_chars` characters) without letters, not only whitespace;
- ("en", "script"): Latin script without accented letters (first `max_chars` characters), without
  URL / e-mail / fence markers, with a word of two letters or more, `looks_like_code` false (fewer
  than two of the code characters `(={;<:`, or ASCII text without a line that looks like code) and no
  lower-case function word of another language;
- ("zh", "script"): not ASCII, no markers, Han characters, no kana or hangul, Han >= 30% of characters.
Every other row goes through `identify` itself.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from operators.filters.columns import PY_SPACE_CLASS, count_han
from operators.filters.langid import CJK_ANY_RE, UND, identify
from operators.filters.script import CODE_LINE_RE, HANGUL_RE, KANA_RE
from operators.filters.wordlists import FOREIGN

_MARKERS = r"```|://|www\.|@"
_KANA_HANGUL = "[" + KANA_RE.pattern[1:-1] + HANGUL_RE.pattern[1:-1] + "]"
# Accented Latin letters, CJK (Han, kana, hangul, CJK punctuation) and letters of other scripts: text
# without any of these takes `identify`'s Latin branch the same way ASCII text does.
_NOT_PLAIN_LATIN = ("[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\u0370-\u1cff\u1f00-\u1fff"
                    + CJK_ANY_RE.pattern[1:-1] + "]")
# `CODE_LINE_RE` in RE2 for ASCII text, where the two differ only in RE2's \s lacking \v and \x1c-\x1f
# (and in spelling \uffff as \x{ffff}).
_CODE_LINE_ASCII = "(?m)" + re.sub(r"\\u(\w{4})", r"\\x{\1}",
                                    CODE_LINE_RE.pattern.replace(r"\s", r"[\s\x0b\x1c-\x1f]"))
_FOREIGN_ASCII = (r"(?:^|[^A-Za-z])(?:" + "|".join(sorted(re.escape(w) for w in FOREIGN if w.isascii()))
                  + r")(?:[^A-Za-z]|$)")


def _english(head: pa.Array) -> np.ndarray:
    """Latin-script rows without markers: a two-letter word, not code, no foreign word."""
    mask = _bools(pc.match_substring_regex(head, "[A-Za-z]{2}"))
    code_chars = _bools(pc.greater_equal(pc.count_substring_regex(head, "[(={;<:]"), 2))
    may_be_code = np.zeros(len(head), dtype=bool)
    _on_rows(may_be_code, np.flatnonzero(mask & code_chars), _may_be_code, head)
    return mask & ~may_be_code & ~_bools(pc.match_substring_regex(head, _FOREIGN_ASCII))


def _may_be_code(head: pa.Array) -> np.ndarray:
    """False where `looks_like_code` is: ASCII text without a line that looks like code."""
    return ~_bools(pc.string_is_ascii(head)) | _bools(pc.match_substring_regex(head, _CODE_LINE_ASCII))


def _chinese(head: pa.Array) -> np.ndarray:
    """Non-ASCII rows without markers: Han >= 30% of characters, no kana or hangul."""
    han = count_han(head)
    mask = pc.and_(pc.greater(han, 0), pc.greater_equal(
        han.cast(pa.float64()), pc.multiply(pc.utf8_length(head).cast(pa.float64()), 0.3)))
    return _bools(pc.and_(mask, pc.invert(pc.match_substring_regex(head, _KANA_HANGUL))))


def _nolang(head: pa.Array, full: pa.Array) -> np.ndarray:
    """ASCII rows without letters whose full text is not only whitespace."""
    return _bools(pc.and_(pc.invert(pc.match_substring_regex(head, "[A-Za-z]")),
                          pc.match_substring_regex(full, f"[^{PY_SPACE_CLASS}]")))


def _bools(array: pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False).astype(bool)


def _on_rows(mask: np.ndarray, rows: np.ndarray, test, *arrays: pa.Array) -> None:
    """mask[rows] = test(arrays restricted to rows): each kernel reads only the rows it can decide."""
    if len(rows):
        take = pa.array(rows, pa.int64())
        mask[rows] = test(*(pc.take(array, take) for array in arrays))


def identify_column(texts: pa.Array, max_chars: int) -> tuple[list[str], dict[int, str], dict[int, str]]:
    """(lang per row, method per row answered by `identify` itself, texts of those rows).

    Rows not in the method dict were answered here: method "empty" when lang is `und`, else "script".
    """
    n = len(texts)
    head = pc.utf8_slice_codeunits(texts, 0, max_chars)
    ascii_ = _bools(pc.string_is_ascii(head))
    plain = ~_bools(pc.match_substring_regex(head, _MARKERS))
    empty = _bools(pc.equal(pc.utf8_length(texts), 0))
    others = np.flatnonzero(~ascii_ & plain)
    latin_others = np.zeros(n, dtype=bool)
    _on_rows(latin_others, others, lambda h: ~_bools(pc.match_substring_regex(h, _NOT_PLAIN_LATIN)), head)
    english, chinese, nolang = (np.zeros(n, dtype=bool) for _ in range(3))
    _on_rows(english, np.flatnonzero((ascii_ & plain) | latin_others), _english, head)
    _on_rows(chinese, np.flatnonzero(~ascii_ & plain & ~latin_others), _chinese, head)
    _on_rows(nolang, np.flatnonzero(ascii_ & ~english & ~empty), _nolang, head, texts)
    langs = np.where(english, "en", np.where(chinese, "zh", UND)).tolist()
    methods: dict[int, str] = dict.fromkeys(np.flatnonzero(nolang).tolist(), "nolang")
    rest = np.flatnonzero(~(english | chinese | empty | nolang)).tolist()
    rest_texts: dict[int, str] = {}
    if rest:
        for i, text in zip(rest, pc.take(texts, pa.array(rest, pa.int64())).to_pylist()):
            langs[i], methods[i] = identify(text, max_chars)
            rest_texts[i] = text
    return langs, methods, rest_texts
