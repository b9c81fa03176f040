"""Generated-instruction heuristics from Self-Instruct / Alpaca, with Chinese equivalents.

English (Self-Instruct's filter): more than 3 and at most 150 words; no blacklisted keyword (whole
words, case-insensitive); does not start with "Write a program"; does not start with punctuation;
does not start with a non-ASCII character. Chinese: bounds in characters, a Chinese keyword list
(substring match), "编写一个程序"-style starts, CJK punctuation counts as punctuation; the non-ASCII
rule does not apply. Rows in other languages use the English rules (`default_lang`).
Checks, first failing wins: missing_field / wrong_type, too_short:instruction,
too_long:instruction, blacklist:<keyword>, write_a_program, starts_with_punctuation,
starts_with_non_ascii. Score columns (with `keep_scores`): `instr_len`, `instr_blacklist`.
"""
from __future__ import annotations

import re
import string
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from operators.base import Operator, OperatorConfig
from operators.filters.columns import (LOWER_EXPANDS, LOWER_TO_ASCII, RE_I_TO_ASCII, effective_langs, field_array,
                                       first_problem, row_lang_array, text_lengths)
from operators.filters.common import with_scores
from operators.filters.length import CHAR_LANGS
from operators.registry import register

EN_BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map",
                "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram")
ZH_BLACKLIST = ("图片", "图像", "照片", "图表", "画图", "画一幅", "画一张", "绘制", "绘图", "画出", "文件",
                "地图", "前往", "视频", "音频", "音乐", "流程图", "示意图")
PUNCTUATION = string.punctuation + "，。、；：？！…—·“”‘’（）《》〈〉【】「」『』〔〕"


class LangRules(OperatorConfig):
    min_len: int  # must be MORE than this (words or characters)
    max_len: int  # at most this
    blacklist: tuple[str, ...]
    program_prefixes: tuple[str, ...]
    non_ascii_start: bool  # reject instructions starting with a non-ASCII character


def _default_rules() -> dict[str, LangRules]:
    return {
        "en": LangRules(min_len=3, max_len=150, blacklist=EN_BLACKLIST,
                        program_prefixes=("write a program",), non_ascii_start=True),
        "zh": LangRules(min_len=4, max_len=300, blacklist=ZH_BLACKLIST,
                        program_prefixes=("编写一个程序", "写一个程序", "编写程序", "写程序", "编写一段程序"),
                        non_ascii_start=False),
    }


class InstructionFilterConfig(OperatorConfig):
    lang: str | None = None  # dataset language when rows have no `lang`
    # Given rules are merged over the defaults per language and key.
    rules: dict[str, LangRules] = Field(default_factory=_default_rules)
    default_lang: str = "en"
    keep_scores: bool = False

    @field_validator("rules", mode="before")
    @classmethod
    def _merge_defaults(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        merged = {lang: rules.model_dump() for lang, rules in _default_rules().items()}
        for lang, given in value.items():
            given = given.model_dump() if isinstance(given, LangRules) else dict(given or {})
            merged[lang] = {**merged.get(lang, {}), **given}
        return merged


def _re2_escape(text: str) -> str:
    return "".join("\\" + c if c.isascii() and not c.isalnum() and c != " " else c for c in text)


def _blacklist_pattern(words: tuple[str, ...], whole_words: bool) -> re.Pattern | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b(?:{alternatives})\b" if whole_words else f"(?:{alternatives})", re.I)


@register
class InstructionFilter(Operator):
    name = "instruction_filter"
    Config = InstructionFilterConfig
    input_columns = ("instruction",)
    output_columns = ()

    @cached_property
    def _patterns(self) -> dict[str, re.Pattern | None]:
        return {lang: _blacklist_pattern(r.blacklist, whole_words=lang not in ("zh", "ja"))
                for lang, r in self.config.rules.items()}

    def __call__(self, batch: pa.Table) -> pa.Table:
        cfg, n = self.config, batch.num_rows
        raw, problems = field_array(batch, "instruction")
        reasons = first_problem(n, problems)
        texts = pc.utf8_trim_whitespace(raw)  # str.strip(): same whitespace, checked on every code point
        lang = effective_langs(row_lang_array(batch, cfg.lang), texts)
        lang = pc.if_else(pc.is_in(lang, pa.array(sorted(cfg.rules), pa.string())), lang, cfg.default_lang)
        langs = lang.to_pylist()
        lengths = text_lengths(texts, pc.is_in(lang, pa.array(sorted(CHAR_LANGS), pa.string())))
        check = np.zeros(n, dtype=bool)
        for code, rules in cfg.rules.items():  # rows that may fail: lengths, then a superset of the rest
            mine = pc.equal(lang, code).to_numpy(zero_copy_only=False)
            if not mine.any():
                continue
            check |= mine & ((lengths <= rules.min_len) | (lengths > rules.max_len))
            may_fail = pc.match_substring_regex(texts, self._candidate_patterns[code])
            check |= mine & may_fail.to_numpy(zero_copy_only=False)
        hits = [""] * n
        details: list[dict[str, Any] | None] = [None] * n
        rows = np.flatnonzero(check).tolist()
        row_texts = pc.take(texts, pa.array(rows, pa.int64())).to_pylist() if rows else []
        for i, text in zip(rows, row_texts):
            pattern = self._patterns.get(langs[i])
            match = pattern.search(text) if pattern else None
            hits[i] = match.group(0).lower() if match else ""
            if reasons[i] is None:
                reasons[i], details[i] = self._check(text, langs[i], int(lengths[i]), hits[i])
        scores = {"instr_len": lengths.tolist(), "instr_blacklist": hits} if cfg.keep_scores else \
            {"instr_len": [], "instr_blacklist": []}
        batch = with_scores(batch, scores, cfg.keep_scores)
        return self.decide(batch, reasons, details)

    @cached_property
    def _candidate_patterns(self) -> dict[str, str]:
        """Per language, an RE2 pattern matching every instruction that may hit a blacklist word, start
        with a program prefix, with punctuation or (where it counts) a non-ASCII character."""
        out = {}
        for code, rules in self.config.rules.items():
            words = "|".join(_re2_escape(w) for w in rules.blacklist + rules.program_prefixes if w)
            punctuation = "^[" + "".join(map(_re2_escape, PUNCTUATION)) + "]"
            parts = [f"[{LOWER_TO_ASCII}{LOWER_EXPANDS}{RE_I_TO_ASCII}]", "^$", punctuation]
            if words:
                parts.append(f"(?i:{words})")
            if rules.non_ascii_start:
                parts.append("^[^\\x00-\\x7f]")
            out[code] = "|".join(parts)
        return out

    def _check(self, text: str, lang: str, length: int, hit: str) -> tuple[str | None, dict[str, Any] | None]:
        rules = self.config.rules[lang]
        if length <= rules.min_len:
            return "too_short:instruction", {"length": length, "min_exclusive": rules.min_len, "lang": lang}
        if length > rules.max_len:
            return "too_long:instruction", {"length": length, "max": rules.max_len, "lang": lang}
        if hit:
            return f"blacklist:{hit}", {"keyword": hit}
        lowered = text.lower()
        if any(lowered.startswith(prefix) for prefix in rules.program_prefixes):
            return "write_a_program", None
        if text[0] in PUNCTUATION:
            return "starts_with_punctuation", {"char": text[0]}
        if rules.non_ascii_start and not text[0].isascii():
            return "starts_with_non_ascii", {"char": text[0]}
        return None, None
