"""Language filter: every checked field must be in the row's expected language; Traditional Chinese
is converted to Simplified or rejected.

Expected language per row: the `lang` column, else the config's `lang`, else detected from the
instruction (then the output if the instruction has no language) and written to `lang`.
Checks, first failing wins: missing_field / wrong_type (in field order) -> unsupported_language ->
wrong_language:<field> (in field order) -> traditional_chinese.
Fields with no language (empty, number-only, code-only, formulas) are not checked. When the
instruction asks for a translation, `input` and `output` are not checked (`translation_exempt`).
Score columns (kept with `keep_scores`): `lang_<field>` (detected, `und` = not checked) and
`trad_<field>` (share of Traditional-only Han characters).
"""
from __future__ import annotations

import re
from typing import Any, Literal

import pyarrow as pa

from operators.base import Operator, OperatorConfig, StageContext
from operators.filters.common import first_problem, read_field, row_langs, set_column, with_scores
from operators.filters.langid import DEFAULT_MAX_CHARS, UND, ensure_seeded, identify
from operators.filters.script import to_simplified, traditional_stats
from operators.registry import register
from operators.schema import update_meta

_TRANSLATE = re.compile(r"\btranslat|翻译|翻譯|译成|譯成|译为|譯為", re.I)


class LanguageFilterConfig(OperatorConfig):
    lang: str | None = None  # dataset language when rows have no `lang`; None = detect per row
    allowed: tuple[str, ...] = ("en", "zh")  # expected languages accepted; empty = any
    fields: tuple[str, ...] = ("instruction", "input", "output")
    translation_exempt: bool = True
    traditional: Literal["reject", "convert", "keep"] = "reject"
    traditional_min_ratio: float = 0.1  # share of Han characters that exist only in Traditional
    traditional_min_chars: int = 3
    max_chars: int = DEFAULT_MAX_CHARS  # characters of each field examined
    keep_scores: bool = False


@register
class LanguageFilter(Operator):
    name = "language_filter"
    Config = LanguageFilterConfig
    input_columns = ("instruction",)
    output_columns = ("lang",)

    def __init__(self, config: LanguageFilterConfig | None = None, context: StageContext | None = None):
        super().__init__(config, context)
        ensure_seeded()  # runs inside each Ray worker that builds the operator

    def __call__(self, batch: pa.Table) -> pa.Table:
        cfg = self.config
        texts, problems = {}, []
        for name in cfg.fields:
            texts[name], field_problems = read_field(batch, name, optional=name == "input")
            problems.append(field_problems)
        reasons = first_problem(*problems) if problems else [None] * batch.num_rows
        langs = row_langs(batch, cfg.lang)
        # Scores column by column, then decisions row by row.
        detected = {name: [identify(text, cfg.max_chars) for text in texts[name]] for name in cfg.fields}
        trad = {name: [traditional_stats(text[:cfg.max_chars]) if found[0] == "zh" else (0, 0.0)
                       for text, found in zip(texts[name], detected[name])] for name in cfg.fields}
        details: list[dict[str, Any] | None] = [None] * batch.num_rows
        meta_updates: list[dict[str, Any] | None] = [None] * batch.num_rows
        converted: set[str] = set()
        for i in range(batch.num_rows):
            if reasons[i] is not None:
                continue
            row_detected = {name: detected[name][i] for name in cfg.fields}
            if not langs[i]:
                langs[i] = self._detect_row_lang(row_detected)
            instruction = texts["instruction"][i] if "instruction" in texts else ""
            row_trad = {name: trad[name][i] for name in cfg.fields}
            reasons[i], details[i], convert = self._check_row(instruction, row_detected, row_trad, langs[i])
            for name in convert:
                texts[name][i] = to_simplified(texts[name][i])
                converted.add(name)
            meta_updates[i] = {"converted_t2s": convert} if convert else None
        for name in converted:
            batch = set_column(batch, name, texts[name])
        batch = set_column(batch, "lang", langs)
        if any(meta_updates) and "meta" in batch.column_names:
            batch = set_column(batch, "meta", update_meta(batch.column("meta").to_pylist(), meta_updates))
        scores: dict[str, list[Any]] = {f"lang_{name}": [d[0] for d in detected[name]] for name in cfg.fields}
        scores.update({f"trad_{name}": [round(t[1], 4) for t in trad[name]] for name in cfg.fields})
        batch = with_scores(batch, scores, cfg.keep_scores)
        return self.decide(batch, reasons, details)

    def _detect_row_lang(self, detected: dict[str, tuple[str, str]]) -> str:
        for name in ("instruction", "output", "input"):
            if name in detected and detected[name][0] != UND:
                return detected[name][0]
        return ""

    def _check_row(self, instruction: str, detected: dict[str, tuple[str, str]],
                   trad: dict[str, tuple[int, float]], expected: str) -> tuple[str | None, dict | None, list[str]]:
        """(reason, detail, fields to convert to Simplified)."""
        cfg = self.config
        if not expected:
            return None, None, []  # nothing in the row has a language to check
        if cfg.allowed and expected not in cfg.allowed:
            return "unsupported_language", {"lang": expected, "allowed": list(cfg.allowed)}, []
        exempt = cfg.translation_exempt and bool(_TRANSLATE.search(instruction[:cfg.max_chars]))
        for name, (lang, method) in detected.items():
            if exempt and name in ("input", "output"):
                continue
            if lang != UND and lang != expected:
                return (f"wrong_language:{name}",
                        {"field": name, "detected": lang, "expected": expected, "method": method}, [])
        if expected != "zh" or cfg.traditional == "keep":
            return None, None, []
        traditional = [name for name, (count, ratio) in trad.items()
                       if count >= cfg.traditional_min_chars and ratio >= cfg.traditional_min_ratio]
        if traditional and cfg.traditional == "reject":
            return "traditional_chinese", {"fields": traditional}, []
        return None, None, traditional
