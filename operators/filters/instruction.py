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

import pyarrow as pa
from pydantic import Field, field_validator

from operators.base import Operator, OperatorConfig
from operators.filters.common import guess_lang_by_script, read_field, row_langs, with_scores
from operators.filters.length import text_length
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
        cfg = self.config
        texts, reasons = read_field(batch, "instruction")
        langs = row_langs(batch, cfg.lang)
        lengths, hits, details = [], [], [None] * batch.num_rows
        for i, text in enumerate(texts):
            text = text.strip()
            lang = langs[i] or guess_lang_by_script(text)
            if lang not in cfg.rules:
                lang = cfg.default_lang
            length = text_length(text, lang)
            pattern = self._patterns.get(lang)
            match = pattern.search(text) if pattern else None
            lengths.append(length)
            hits.append(match.group(0).lower() if match else "")
            if reasons[i] is None:
                reasons[i], details[i] = self._check(text, lang, length, hits[-1])
        batch = with_scores(batch, {"instr_len": lengths, "instr_blacklist": hits}, cfg.keep_scores)
        return self.decide(batch, reasons, details)

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
