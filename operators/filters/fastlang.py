"""`langid.identify` over a whole column: the two common fast-path answers decided in C.

A row is answered here only when `identify` is certain to give the same answer:
- "empty": the text is "";
- "nolang": ASCII (first `max_chars` characters) without letters, not only whitespace;
- ("en", "script"): Latin script without accented letters (first `max_chars` characters), without URL / e-mail / fence markers, with a
  word of two letters or more, fewer than two of the code characters `(={;<:` (so `looks_like_code`
  is false) and no lower-case function word of another language;
- ("zh", "script"): not ASCII, no markers, Han characters, no kana or hangul, Han >= 30% of characters.
Every other row goes through `identify` itself.
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from operators.filters.columns import PY_SPACE_CLASS, count_han, indices
from operators.filters.langid import CJK_ANY_RE, UND, identify
from operators.filters.script import HANGUL_RE, KANA_RE
from operators.filters.wordlists import FOREIGN

_MARKERS = r"```|://|www\.|@"
_KANA_HANGUL = "[" + KANA_RE.pattern[1:-1] + HANGUL_RE.pattern[1:-1] + "]"
# Accented Latin letters, CJK (Han, kana, hangul, CJK punctuation) and letters of other scripts: text
# without any of these takes `identify`'s Latin branch the same way ASCII text does.
_NOT_PLAIN_LATIN = ("[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\u0370-\u1cff\u1f00-\u1fff"
                    + CJK_ANY_RE.pattern[1:-1] + "]")
_FOREIGN_ASCII = (r"(?:^|[^A-Za-z])(?:" + "|".join(sorted(re.escape(w) for w in FOREIGN if w.isascii()))
                  + r")(?:[^A-Za-z]|$)")


def _english(head: pa.Array, ascii_: pa.Array, plain: pa.Array) -> pa.Array:
    latin = pc.or_(ascii_, pc.invert(pc.match_substring_regex(head, _NOT_PLAIN_LATIN)))
    mask = pc.and_(latin, plain)
    mask = pc.and_(mask, pc.match_substring_regex(head, "[A-Za-z]{2}"))
    mask = pc.and_(mask, pc.less(pc.count_substring_regex(head, "[(={;<:]"), 2))
    return pc.and_(mask, pc.invert(pc.match_substring_regex(head, _FOREIGN_ASCII)))


def _chinese(head: pa.Array, ascii_: pa.Array, plain: pa.Array) -> pa.Array:
    han = count_han(head)
    mask = pc.and_(pc.invert(ascii_), plain)
    mask = pc.and_(mask, pc.greater(han, 0))
    mask = pc.and_(mask, pc.greater_equal(han.cast(pa.float64()),
                                          pc.multiply(pc.utf8_length(head).cast(pa.float64()), 0.3)))
    return pc.and_(mask, pc.invert(pc.match_substring_regex(head, _KANA_HANGUL)))


def identify_column(texts: pa.Array, max_chars: int) -> tuple[list[str], dict[int, str], dict[int, str]]:
    """(lang per row, method per row answered by `identify` itself, texts of those rows).

    Rows not in the method dict were answered here: method "empty" when lang is `und`, else "script".
    """
    head = pc.utf8_slice_codeunits(texts, 0, max_chars)
    ascii_ = pc.string_is_ascii(head)
    plain = pc.invert(pc.match_substring_regex(head, _MARKERS))
    english = _english(head, ascii_, plain)
    chinese = _chinese(head, ascii_, plain)
    empty = pc.equal(pc.utf8_length(texts), 0)
    nolang = pc.and_(pc.and_(ascii_, pc.invert(pc.match_substring_regex(head, "[A-Za-z]"))),
                     pc.match_substring_regex(texts, f"[^{PY_SPACE_CLASS}]"))
    langs = pc.if_else(english, "en", pc.if_else(chinese, "zh", UND)).to_pylist()
    rest = indices(pc.invert(pc.or_(pc.or_(pc.or_(english, chinese), empty), nolang)))
    methods: dict[int, str] = dict.fromkeys(indices(nolang), "nolang")
    rest_texts: dict[int, str] = {}
    if rest:
        for i, text in zip(rest, pc.take(texts, pa.array(rest, pa.int64())).to_pylist()):
            langs[i], methods[i] = identify(text, max_chars)
            rest_texts[i] = text
    return langs, methods, rest_texts
