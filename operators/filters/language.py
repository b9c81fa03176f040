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
import pyarrow.compute as pc

from operators.base import Operator, OperatorConfig, StageContext
from operators.filters.columns import field_array, first_problem, indices, row_lang_array
from operators.filters.common import set_column, with_scores
from operators.filters.fastlang import identify_column
from operators.filters.langid import DEFAULT_MAX_CHARS, UND, ensure_seeded
from operators.filters.script import (TRAD_ONLY_CHARS, TRADITIONAL_MIN_CHARS, TRADITIONAL_MIN_RATIO,
                                      TRANSLATION_REQUEST_RE, to_simplified, traditional_stats)
from operators.filters.utf8 import Utf8Rows, char_table
from operators.registry import register
from operators.schema import update_meta

_TRAD_ONLY_TABLE = char_table(TRAD_ONLY_CHARS)


class LanguageFilterConfig(OperatorConfig):
    lang: str | None = None  # dataset language when rows have no `lang`; None = detect per row
    allowed: tuple[str, ...] = ("en", "zh")  # expected languages accepted; empty = any
    fields: tuple[str, ...] = ("instruction", "input", "output")
    translation_exempt: bool = True
    traditional: Literal["reject", "convert", "keep"] = "reject"
    traditional_min_ratio: float = TRADITIONAL_MIN_RATIO  # share of Han characters only in Traditional
    traditional_min_chars: int = TRADITIONAL_MIN_CHARS
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
        cfg, n = self.config, batch.num_rows
        texts, problems = {}, []
        for name in cfg.fields:
            texts[name], field_problems = field_array(batch, name, optional=name == "input")
            problems.append(field_problems)
        reasons = first_problem(n, *problems)
        # Scores column by column (common rows decided in C), then decisions for the rows that need them.
        detected, methods, raw = {}, {}, {}
        for name in cfg.fields:
            detected[name], methods[name], raw[name] = identify_column(texts[name], cfg.max_chars)
        expected = self._expected(row_lang_array(batch, cfg.lang), detected)
        langs = expected.to_pylist()
        trad = {name: self._traditional(texts[name], detected[name]) for name in cfg.fields}
        details: list[dict[str, Any] | None] = [None] * n
        meta_updates: list[dict[str, Any] | None] = [None] * n
        converted: dict[str, dict[int, str]] = {}
        for i in self._rows_to_check(expected, detected, trad, reasons):
            row_detected = {name: (detected[name][i], methods[name].get(i) or self._method(detected[name][i]))
                            for name in cfg.fields}
            instruction = self._text(texts, raw, "instruction", i)
            row_trad = {name: trad[name].get(i, (0, 0.0)) for name in cfg.fields}
            reasons[i], details[i], convert = self._check_row(instruction, row_detected, row_trad, langs[i])
            for name in convert:
                converted.setdefault(name, {})[i] = to_simplified(self._text(texts, raw, name, i))
            meta_updates[i] = {"converted_t2s": convert} if convert else None
        for name, changed in converted.items():
            values = texts[name].to_pylist()
            for i, text in changed.items():
                values[i] = text
            batch = set_column(batch, name, values)
        batch = set_column(batch, "lang", langs)
        if any(meta_updates) and "meta" in batch.column_names:
            batch = set_column(batch, "meta", update_meta(batch.column("meta").to_pylist(), meta_updates))
        if cfg.keep_scores:
            scores: dict[str, list[Any]] = {f"lang_{name}": detected[name] for name in cfg.fields}
            for name in cfg.fields:
                ratios = [0.0] * n
                for i, (_, ratio) in trad[name].items():
                    ratios[i] = round(ratio, 4)
                scores[f"trad_{name}"] = ratios
        else:
            scores = {f"{kind}_{name}": [] for name in cfg.fields for kind in ("lang", "trad")}
        batch = with_scores(batch, scores, cfg.keep_scores)
        return self.decide(batch, reasons, details)

    @staticmethod
    def _method(lang: str) -> str:
        return "empty" if lang == UND else "script"

    @staticmethod
    def _text(texts: dict[str, pa.Array], raw: dict[str, dict[int, str]], name: str, i: int) -> str:
        if name not in texts:
            return ""
        known = raw[name].get(i)
        return known if known is not None else texts[name][i].as_py()

    def _traditional(self, texts: pa.Array, detected: list[str]) -> dict[int, tuple[int, float]]:
        """Row -> (Traditional-only characters, share of Han) for Chinese rows that have any."""
        chinese = pc.indices_nonzero(pc.equal(pa.array(detected, pa.string()), "zh"))
        if not len(chinese):
            return {}
        head = pc.utf8_slice_codeunits(pc.take(texts, chinese), 0, self.config.max_chars)
        found = pa.array(Utf8Rows(head).count(_TRAD_ONLY_TABLE) > 0)
        rows = pc.filter(chinese, found).to_pylist()
        return dict(zip(rows, map(traditional_stats, pc.filter(head, found).to_pylist())))

    def _rows_to_check(self, expected: pa.Array, detected: dict[str, list[str]],
                       trad: dict[str, dict[int, tuple[int, float]]], reasons: list[str | None]) -> list[int]:
        """Rows whose decision is not "keep as is": no expected language, one not allowed, a field in
        another language, or Traditional characters (when they matter)."""
        cfg = self.config
        check = pc.equal(expected, "")
        if cfg.allowed:
            check = pc.or_(check, pc.invert(pc.is_in(expected, pa.array(list(cfg.allowed), pa.string()))))
        for name in cfg.fields:
            found = pa.array(detected[name], pa.string())
            check = pc.or_(check, pc.and_(pc.not_equal(found, UND), pc.not_equal(found, expected)))
        if cfg.traditional != "keep" and cfg.traditional_min_chars <= 0 and cfg.traditional_min_ratio <= 0:
            check = pc.or_(check, pc.equal(expected, "zh"))  # every Chinese row counts as Traditional
        rows = set(indices(check))
        if cfg.traditional != "keep":
            rows.update(i for name in cfg.fields for i in trad[name])
        return sorted(i for i in rows if reasons[i] is None)

    @staticmethod
    def _expected(given: pa.Array, detected: dict[str, list[str]]) -> pa.Array:
        """The row's language where given, else the first of instruction, output, input that has one
        ("" when none has: such a row is not checked)."""
        if not pc.any(pc.equal(given, "")).as_py():
            return given
        found = pa.array([""] * len(given), pa.string())
        for name in reversed([f for f in ("instruction", "output", "input") if f in detected]):
            lang = pa.array(detected[name], pa.string())
            found = pc.if_else(pc.equal(lang, UND), found, lang)
        return pc.if_else(pc.equal(given, ""), found, given)

    def _check_row(self, instruction: str, detected: dict[str, tuple[str, str]],
                   trad: dict[str, tuple[int, float]], expected: str) -> tuple[str | None, dict | None, list[str]]:
        """(reason, detail, fields to convert to Simplified)."""
        cfg = self.config
        if not expected:
            return None, None, []  # nothing in the row has a language to check
        if cfg.allowed and expected not in cfg.allowed:
            return "unsupported_language", {"lang": expected, "allowed": list(cfg.allowed)}, []
        exempt = cfg.translation_exempt and bool(TRANSLATION_REQUEST_RE.search(instruction[:cfg.max_chars]))
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
