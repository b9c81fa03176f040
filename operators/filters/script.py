"""Writing-system statistics: CJK / Latin counts, code and number detection, Traditional Chinese.

Everything here is regex or `str.translate` work done in C; callers cap the text they pass in.
"""
from __future__ import annotations

import re
from functools import lru_cache

from operators.filters import t2s_table

# Han: CJK Unified Ideographs + Extension A + Compatibility Ideographs. Astral extensions (B..) are
# left out on purpose: rare in modern text, and an astral range makes `re` classes several times slower.
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_RE = re.compile(f"[{_HAN}]")
_HAN_RUN_RE = re.compile(f"[{_HAN}]+")
KANA_RE = re.compile("[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
HANGUL_RE = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
LATIN_WORD_RE = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]+")
# Letters of any script that is neither Latin nor CJK (Cyrillic, Greek, Arabic, Devanagari, Thai...).
OTHER_LETTER_RE = re.compile("[\u0370-\u1cff\u1f00-\u1fff]")
ANY_LETTER_RE = re.compile(r"[^\W\d_]")
FENCE_RE = re.compile(r"```.*?(?:```|\Z)", re.S)
URL_RE = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+")
# Tokens for length and repetition: a Han / kana / hangul character, or a run of other word chars.
TOKEN_RE = re.compile(f"[{_HAN}\u3040-\u30ff\uac00-\ud7af]|[^\\s{_HAN}\u3040-\u30ff\uac00-\ud7af]+")
_CODE_CHARS = re.compile(r"[{}()\[\];=<>+*/\\|&%$#@^~`_:\"\uff08\uff09\uff1b]")
CODE_LINE_RE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|return\b|for\s*[(\uff08]|for \w+ in |while\s*[(\uff08]|"
    r"if\s*[(\uff08]|#include|public |private |static |function\b|const |let |var |SELECT |INSERT |"
    r"UPDATE |CREATE |<[a-zA-Z/!]|[\w.\[\]]+\s*=\s*\S|[})\];\uff09]+\s*$|//|/\*|\*/|print\(|console\.|System\.)",
    re.M)


def strip_non_prose(text: str) -> str:
    """Remove fenced code blocks, URLs and e-mail addresses before language identification."""
    if "```" in text:
        text = FENCE_RE.sub(" ", text)
    if "://" in text or "www." in text or "@" in text:
        text = URL_RE.sub(" ", text)
    return text


def looks_like_code(text: str) -> bool:
    """True for text that is mostly source code (no prose worth a language check)."""
    if sum(map(text.count, "(={;<:")) < 2 or HAN_RE.search(text):
        return False
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return False
    code_lines = len(CODE_LINE_RE.findall(text))
    symbols = len(_CODE_CHARS.findall(text))
    visible = len(text) - text.count(" ") - text.count("\n")
    return code_lines >= max(1, 0.5 * len(lines)) and symbols >= 0.04 * max(visible, 1)


def count_han(text: str) -> int:
    """Number of Han characters (counted by runs: one regex match per run, not per character)."""
    return sum(map(len, _HAN_RUN_RE.findall(text)))


def has_letters(text: str) -> bool:
    """False for number-only, punctuation-only or emoji-only text."""
    return ANY_LETTER_RE.search(text) is not None


# ---- Traditional vs Simplified Chinese ---------------------------------------------------------

# BMP characters only, sorted: keeps the class a fast bitmap (see _HAN).
# When a text counts as Traditional Chinese (the language filter and translation QA share these):
# at least this many Traditional-only characters, making at least this share of its Han characters.
TRADITIONAL_MIN_CHARS = 2
TRADITIONAL_MIN_RATIO = 0.05
# An instruction asking for a translation: its input and output are not in the instruction's language.
TRANSLATION_REQUEST_RE = re.compile(r"\btranslat|翻译|翻譯|译成|譯成|译为|譯為", re.I)

TRAD_ONLY_CHARS = "".join(sorted(c for c in t2s_table.TRADITIONAL_ONLY if ord(c) <= 0xFFFF))
_TRAD_ONLY_RE = re.compile("[" + re.escape(TRAD_ONLY_CHARS) + "]")


@lru_cache(maxsize=1)
def _t2s_map() -> dict[int, str]:
    return {ord(t): s for t, s in zip(t2s_table.TRADITIONAL, t2s_table.SIMPLIFIED)}


def traditional_ratio(text: str) -> float:
    """Share of Han characters that exist only in Traditional script (0.0 without Han)."""
    if text.isascii():
        return 0.0
    han = count_han(text)
    if not han:
        return 0.0
    return len(_TRAD_ONLY_RE.findall(text)) / han


def traditional_stats(text: str) -> tuple[int, float]:
    """(Traditional-only characters, their share of Han characters)."""
    if text.isascii():
        return 0, 0.0
    count = len(_TRAD_ONLY_RE.findall(text))
    return (count, count / count_han(text)) if count else (0, 0.0)


def traditional_count(text: str) -> int:
    return 0 if text.isascii() else len(_TRAD_ONLY_RE.findall(text))


def to_simplified(text: str) -> str:
    """Character-level Traditional -> Simplified conversion (OpenCC's first candidate per character)."""
    return text if text.isascii() else text.translate(_t2s_map())
