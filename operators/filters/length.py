"""Length filter: min/max per field, in words for space-delimited languages and in characters for
Chinese (and Japanese).

Unit per row: from its language (`lang` column, else config `lang`, else a cheap script guess per
field: >= 30% Han characters counts characters). Characters = non-whitespace characters.
Checks, first failing wins, in field order: missing_field / wrong_type, too_short:<field>,
too_long:<field>. Score columns (with `keep_scores`): `len_<field>`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from operators.base import Operator, OperatorConfig
from operators.filters.columns import effective_langs, field_array, first_problem, row_lang_array, text_lengths
from operators.filters.common import with_scores
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
        cfg, n = self.config, batch.num_rows
        fields = sorted({f for per_lang in cfg.limits.values() for f in per_lang},
                        key=lambda f: ("instruction", "input", "output").index(f)
                        if f in ("instruction", "input", "output") else 3)
        texts, problems = {}, []
        for name in fields:
            texts[name], field_problems = field_array(batch, name, optional=name == "input")
            problems.append(field_problems)
        reasons = first_problem(n, *problems)
        expected = row_lang_array(batch, cfg.lang)
        langs, lengths, failing = {}, {}, np.zeros(n, dtype=bool)
        for name in fields:  # lengths and bounds column by column; details only for failing rows
            lang = effective_langs(expected, texts[name])
            langs[name] = lang.to_pylist()
            lengths[name] = text_lengths(texts[name], pc.is_in(lang, pa.array(sorted(CHAR_LANGS), pa.string())))
            low, high = self._bounds(name, langs[name])
            failing |= (lengths[name] < low) | (lengths[name] > high)
        details: list[dict[str, Any] | None] = [None] * n
        for i in np.flatnonzero(failing).tolist():
            for name in fields:
                if reasons[i] is None:
                    reasons[i], details[i] = self._check(name, int(lengths[name][i]), langs[name][i])
        scores = {f"len_{name}": lengths[name].tolist() if cfg.keep_scores else [] for name in fields}
        batch = with_scores(batch, scores, cfg.keep_scores)
        return self.decide(batch, reasons, details)

    def _bounds(self, name: str, langs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per-row (min, max) of field `name` for each row's language (no bounds: 0 .. unlimited)."""
        limits, table = self.config.limits, {}
        for lang in set(langs):
            bounds = limits.get(lang, limits.get(self.config.default_lang, {})).get(name)
            big = np.iinfo(np.int64).max
            table[lang] = (bounds.min, big if bounds.max is None else bounds.max) if bounds else (-big, big)
        pairs = np.array([table[lang] for lang in langs], dtype=np.int64).reshape(len(langs), 2)
        return pairs[:, 0], pairs[:, 1]

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
