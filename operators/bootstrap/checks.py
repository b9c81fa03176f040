"""Per-candidate filters shared by every bootstrapping method (Self-Instruct's, with Chinese rules).

English: more than 3 and at most 150 words, no blacklisted word (whole word, case-insensitive), not
"Write a program...", no leading punctuation, an ASCII first character. Chinese: lengths in
characters, the Chinese keyword list of the instruction filter (substring), its program prefixes;
no ASCII rule. The first failing check names the reason: too_short, too_long, blacklist:<word>,
write_a_program, starts_with_punctuation, non_ascii_start.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Optional

from operators.filters.instruction import EN_BLACKLIST, PUNCTUATION, ZH_BLACKLIST
from operators.base import OperatorConfig

CHAR_LANGS = ("zh", "ja")


class CandidateChecks(OperatorConfig):
    min_words: int = 3  # must be MORE than this (characters for Chinese: min_chars)
    max_words: int = 150
    min_chars: int = 4
    max_chars: int = 300
    blacklist: Optional[tuple[str, ...]] = None  # None: the language's list
    program_prefixes: tuple[str, ...] = ("write a program", "编写一个程序", "写一个程序", "编写程序")


@lru_cache(maxsize=256)
def _word_pattern(word: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)


@lru_cache(maxsize=16)
def _any_word(words: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(rf"\b{re.escape(word)}\b" for word in words) or r"(?!)", re.IGNORECASE)


def check_instruction(text: str, lang: str, cfg: CandidateChecks) -> tuple[Optional[str], Optional[dict[str, Any]]]:
    text = text.strip()
    chars = lang in CHAR_LANGS
    size = len(re.sub(r"\s", "", text)) if chars else len(text.split())
    low, high = (cfg.min_chars, cfg.max_chars) if chars else (cfg.min_words, cfg.max_words)
    if size <= low:
        return "too_short", {"length": size, "min_exclusive": low}
    if size > high:
        return "too_long", {"length": size, "max": high}
    blacklist = cfg.blacklist if cfg.blacklist is not None else (ZH_BLACKLIST if chars else EN_BLACKLIST)
    if chars or _any_word(tuple(blacklist)).search(text):  # one scan; the loop names the list's first hit
        for word in blacklist:
            if (word in text) if chars else _word_pattern(word).search(text):
                return f"blacklist:{word}", None
    if text.lower().startswith(cfg.program_prefixes):
        return "write_a_program", None
    if text[0] in PUNCTUATION:
        return "starts_with_punctuation", None
    if not chars and not text[0].isascii():
        return "non_ascii_start", None
    return None, None
