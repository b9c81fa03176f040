"""Length filter: min/max per field, in words for space-delimited languages and in characters for
Chinese (and Japanese).

Unit per row: from its language (`lang` column, else config `lang`, else a cheap script guess per
field: >= 30% Han characters counts characters). Characters = non-whitespace characters.
Checks, first failing wins, in field order: missing_field / wrong_type, too_short:<field>,
too_long:<field>. Score columns (with `keep_scores`): `len_<field>`.
"""
from __future__ import annotations

from typing import Any

import pyarrow as pa
from pydantic import Field, field_validator

from operators.base import Operator, OperatorConfig
from operators.filters.common import first_problem, guess_lang_by_script, read_field, row_langs, with_scores
from operators.registry import register

CHAR_LANGS = frozenset({"zh", "ja"})


class Bounds(OperatorConfig):
    min: int = 0
    max: int | None = None


def _default_limits() -> dict[str, dict[str, Bounds]]:
    return {
        "en": {"instruction": Bounds(min=1, max=1000), "input": Bounds(max=4000),
               "output": Bounds(min=1, max=8000)},
        "zh": {"instruction": Bounds(min=2, max=2000), "input": Bounds(max=8000),
               "output": Bounds(min=1, max=16000)},
    }


class LengthFilterConfig(OperatorConfig):
    lang: str | None = None  # dataset language when rows have no `lang`
    # language -> field -> bounds; languages not listed use `default_lang`'s bounds
    # Given limits are merged over the defaults per language and field.
    limits: dict[str, dict[str, Bounds]] = Field(default_factory=_default_limits)
    default_lang: str = "en"
    keep_scores: bool = False

    @field_validator("limits", mode="before")
    @classmethod
    def _merge_defaults(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in _default_limits().items()}
        for lang, per_field in value.items():
            merged.setdefault(lang, {}).update(per_field or {})
        return merged


def text_length(text: str, lang: str) -> int:
    """Words for space-delimited languages, non-whitespace characters for Chinese / Japanese."""
    if lang in CHAR_LANGS:
        return len(text) - sum(map(text.count, " \n\t\r\u3000"))
    return len(text.split())


@register
class LengthFilter(Operator):
    name = "length_filter"
    Config = LengthFilterConfig
    input_columns = ("instruction", "output")
    output_columns = ()

    def __call__(self, batch: pa.Table) -> pa.Table:
        cfg = self.config
        fields = sorted({f for per_lang in cfg.limits.values() for f in per_lang},
                        key=lambda f: ("instruction", "input", "output").index(f)
                        if f in ("instruction", "input", "output") else 3)
        texts, problems = {}, []
        for name in fields:
            texts[name], field_problems = read_field(batch, name, optional=name == "input")
            problems.append(field_problems)
        reasons = first_problem(*problems) if problems else [None] * batch.num_rows
        langs = row_langs(batch, cfg.lang)
        scores: dict[str, list[Any]] = {f"len_{name}": [] for name in fields}
        details: list[dict[str, Any] | None] = [None] * batch.num_rows
        for i in range(batch.num_rows):
            for name in fields:
                text = texts[name][i]
                lang = langs[i] or guess_lang_by_script(text)
                length = text_length(text, lang)
                scores[f"len_{name}"].append(length)
                if reasons[i] is None:
                    reasons[i], details[i] = self._check(name, length, lang)
        batch = with_scores(batch, scores, cfg.keep_scores)
        return self.decide(batch, reasons, details)

    def _check(self, name: str, length: int, lang: str) -> tuple[str | None, dict | None]:
        limits = self.config.limits
        bounds = limits.get(lang, limits.get(self.config.default_lang, {})).get(name)
        if bounds is None:
            return None, None
        unit = "chars" if lang in CHAR_LANGS else "words"
        if length < bounds.min:
            return f"too_short:{name}", {"field": name, "length": length, "min": bounds.min, "unit": unit}
        if bounds.max is not None and length > bounds.max:
            return f"too_long:{name}", {"field": name, "length": length, "max": bounds.max, "unit": unit}
        return None, None
