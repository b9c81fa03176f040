"""Quality checks of one translated row: the first failing check of the first failing field wins.

Per field, in order: `empty` (source had text, translation has none), `untranslated` (returned as it
was, unless the field has no language: code, numbers, names of a few words), `wrong_language`,
`traditional` (Traditional characters when Simplified Chinese was asked: converted or rejected by
config), `lost_code`, `lost_url`, `lost_number`, `lost_placeholder`, `lost_lines` (line structure),
`length_ratio` (prose length of the translation over the source's, outside configured bounds).
When the instruction asks for a translation, `input` and `output` are exempt from `untranslated` and
`wrong_language` (their language is the task's business).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import Field

from operators.base import OperatorConfig
from operators.filters.langid import UND, identify
from operators.filters.script import (TRADITIONAL_MIN_CHARS, TRADITIONAL_MIN_RATIO, TRANSLATION_REQUEST_RE,
                                      to_simplified, traditional_stats)
from operators.translate_qa.numbers import lost_numbers
from operators.translate_qa.spans import fold, is_code_line, missing, protected, strip_spans

_SPACES = re.compile(r"\s+")
_HASHTAG_RE = re.compile(r"[#@]\w+")
# Whole words of letters (`b1jK90mh`, `S6@l97Ad` are not words).
_WORD_RE = re.compile(r"(?<![\w@#$%&*])[A-Za-z\u00c0-\u024f]{2,}(?:'[a-z]+)?(?![\w@])")
_CODE_START_RE = re.compile(
    r"\s*(?:(?:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WITH)\s|(?:def|class|import|from|return|print|"
    r"function|const|let|var|public|private|static|void|int|for|while|if)\b.*[(:{=;]|#include|<[a-zA-Z!?/]|"
    r"[\w.]+\([^)]*\)\s*;?\s*$|[\w.\[\]]+\s*[+\-*/]?=\s*\S.*[;\])]\s*$)")
# Typical prose-length ratio bounds (target / source, non-space characters) from English.
DEFAULT_LENGTH_RATIO = {"zh": (0.15, 0.9), "ja": (0.2, 1.2), "ko": (0.2, 1.2)}
OTHER_LENGTH_RATIO = (0.5, 2.0)
CHECKS = ("empty", "untranslated", "wrong_language", "traditional", "lost_code", "lost_url", "lost_number",
          "lost_placeholder", "lost_lines", "length_ratio")


class TranslationQAConfig(OperatorConfig):
    checks: tuple[Literal[CHECKS], ...] = CHECKS  # type: ignore[valid-type]
    length_ratio: Optional[tuple[float, float]] = None  # None: by target language (DEFAULT_LENGTH_RATIO)
    length_min_chars: int = Field(40, ge=1)  # shorter source prose: ratio not checked
    untranslated_min_words: int = Field(3, ge=1)  # fewer words (names, titles) may stay as they are
    traditional: Literal["convert", "reject", "keep"] = "convert"
    traditional_min_chars: int = Field(TRADITIONAL_MIN_CHARS, ge=1)
    traditional_min_ratio: float = Field(TRADITIONAL_MIN_RATIO, ge=0, le=1)
    translation_exempt: bool = True
    max_chars: int = Field(2000, ge=100)  # characters of each field examined by the language check


@dataclass
class Verdict:
    reason: Optional[str] = None
    detail: Optional[dict[str, Any]] = None
    converted: tuple[str, ...] = ()  # fields converted Traditional -> Simplified


def check_row(source: dict[str, str], translated: dict[str, str], target: str,
              cfg: TranslationQAConfig, source_lang: str = "") -> Verdict:
    """`translated` is modified in place when Traditional characters are converted."""
    exempt = cfg.translation_exempt and bool(TRANSLATION_REQUEST_RE.search(source.get("instruction", "")))
    converted = []
    for name, text in source.items():
        if name not in translated:
            continue
        reason, detail = check_field(text, translated[name], target, cfg, exempt and name != "instruction",
                                   source_lang)
        if reason == "traditional_converted":
            translated[name] = to_simplified(translated[name])
            converted.append(name)
            reason, detail = check_field(text, translated[name], target, cfg, exempt and name != "instruction",
                                   source_lang)
        if reason:
            return Verdict(reason, {"field": name, **(detail or {})}, tuple(converted))
    return Verdict(converted=tuple(converted))


def check_field(source: str, translation: str, target: str, cfg: TranslationQAConfig,
                exempt: bool = False, source_lang: str = "") -> tuple[Optional[str], Optional[dict[str, Any]]]:
    checks = set(cfg.checks)
    if not source or not source.strip():
        return None, None
    if not translation or not translation.strip():
        return ("empty", None) if "empty" in checks else (None, None)
    spans = protected(source)
    src_lang = identify(source, cfg.max_chars)[0]
    same = _same(source, translation)
    if same and "untranslated" in checks and not exempt and _has_prose(source, spans, src_lang, source_lang, cfg):
        return "untranslated", {"detected": src_lang}
    if "wrong_language" in checks and not exempt and not same:
        found, method = identify(translation, cfg.max_chars)
        if found not in (UND, target) and src_lang != UND:
            return "wrong_language", {"detected": found, "expected": target, "method": method}
    if target == "zh" and "traditional" in checks and cfg.traditional != "keep":
        count, ratio = traditional_stats(translation[:cfg.max_chars])
        if count >= cfg.traditional_min_chars and ratio >= cfg.traditional_min_ratio:
            if cfg.traditional == "reject":
                return "traditional", {"chars": count, "ratio": round(ratio, 3)}
            return "traditional_converted", None
    lost = missing(spans, translation)
    for kind in ("code", "url"):
        if f"lost_{kind}" in checks and kind in lost:
            return f"lost_{kind}", {kind: [s[:200] for s in lost[kind][:3]]}
    if "lost_number" in checks:
        numbers = lost_numbers(_prose_without_code(source, spans.code), translation, target)
        if numbers:
            return "lost_number", {"numbers": numbers[:5]}
    if "lost_placeholder" in checks and "placeholder" in lost:
        return "lost_placeholder", {"placeholders": lost["placeholder"][:5]}
    if "lost_lines" in checks and spans.lines >= 2:
        lines = sum(1 for line in translation.split("\n") if line.strip())
        if lines != spans.lines:
            return "lost_lines", {"source_lines": spans.lines, "lines": lines}
    if "length_ratio" in checks:
        return _length_ratio(source, translation, target, spans.code, cfg)
    return None, None


def _length_ratio(source: str, translation: str, target: str, code: list[str], cfg: TranslationQAConfig):
    """Prose characters (code, URLs and spaces left out) of the translation over the source's."""
    src = len(_SPACES.sub("", _prose_without_code(source, code)))
    if src < cfg.length_min_chars or _same(source, translation):
        return None, None
    low, high = cfg.length_ratio or DEFAULT_LENGTH_RATIO.get(target, OTHER_LENGTH_RATIO)
    ratio = len(_SPACES.sub("", _prose_without_code(translation, code))) / src
    if ratio < low or ratio > high:
        return "length_ratio", {"ratio": round(ratio, 3), "bounds": [low, high]}
    return None, None


def _has_prose(source: str, spans, src_lang: str, source_lang: str, cfg: TranslationQAConfig) -> bool:
    """Text that should have been translated: in the row's source language (text in a third
    language, such as the Spanish answer of a translation task, stays as it is), mostly not code,
    and at least `untranslated_min_words` words once code, URLs and hashtags are set aside."""
    if src_lang == UND or (source_lang and src_lang != source_lang):
        return False
    if looks_like_code_answer(source, spans):
        return False
    prose = _HASHTAG_RE.sub(" ", _prose_without_code(source, spans.code))
    return len(_WORD_RE.findall(prose)) >= cfg.untranslated_min_words


def all_code(text: str) -> bool:
    """Every non-empty line is code (nothing to translate)."""
    lines = [line for line in text.split("\n") if line.strip()]
    return bool(lines) and all(_CODE_START_RE.match(line) or is_code_line(line) for line in lines)


def looks_like_code_answer(text: str, spans) -> bool:
    """A field that starts with code, or whose lines are a third or more code."""
    lines = [line for line in text.split("\n") if line.strip()]
    if not lines:
        return False
    if _CODE_START_RE.match(lines[0]) or (spans.code and text.lstrip().startswith(spans.code[0].lstrip())):
        return True
    code = sum(1 for line in lines if _CODE_START_RE.match(line) or line in spans.code)
    return code * 3 >= len(lines)


def _same(source: str, translation: str) -> bool:
    return fold(source).lower() == fold(translation).lower()


def _prose_without_code(text: str, code: list[str]) -> str:
    text = strip_spans(text)
    for span in code:
        text = text.replace(span, " ")
    return text
