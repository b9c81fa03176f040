"""Response-quality filter: empty, leaked template, output == input, refusal / AI disclaimer,
truncated, degenerate repetition.

Checks, first failing wins: missing_field / wrong_type (output, then input and instruction),
empty, template_leak, output_equals_input, refusal, truncated, repetition.
- template_leak: a template token anywhere in a `template_fields` field (`<noinput>`,
  `### Instruction:`, ...) or the output starting with a template prefix (`Input:`, `输入：`, ...);
- refusal: a configured phrase (English and Chinese) in the output's head or tail, case-insensitive,
  full-width comma read as a comma;
- truncated: `finish_reason == "length"` in the row's meta (top level or one level down), or an
  unclosed ``` code fence;
- repetition: share of repeated token n-grams (words; Han characters for Chinese) >= threshold.
Score columns (with `keep_scores`): `rep_ratio_output`.
"""
from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa
from pydantic import Field

from operators.base import Operator, OperatorConfig
from operators.filters.common import first_problem, guess_lang_by_script, read_field, row_langs, with_scores
from operators.filters.phrases import REFUSALS, TEMPLATE_PREFIXES, TEMPLATE_TOKENS
from operators.filters.script import TOKEN_RE
from operators.registry import register

_SPACES = re.compile(r"\s+")


class RepetitionRule(OperatorConfig):
    n: int = Field(ge=1)  # n-gram size in tokens (words; characters for Chinese)
    max_ratio: float  # reject when the share of repeated n-grams is at least this
    min_tokens: int = 20  # shorter outputs are not scored


def _default_repetition() -> dict[str, RepetitionRule]:
    return {"en": RepetitionRule(n=4, max_ratio=0.75), "zh": RepetitionRule(n=6, max_ratio=0.75)}


class ResponseFilterConfig(OperatorConfig):
    lang: str | None = None
    refusal_phrases: tuple[str, ...] = REFUSALS
    refusal_window: int = 600  # characters examined at each end of the output
    template_tokens: tuple[str, ...] = TEMPLATE_TOKENS
    template_prefixes: tuple[str, ...] = TEMPLATE_PREFIXES
    template_fields: tuple[str, ...] = ("instruction", "input", "output")
    repetition: dict[str, RepetitionRule] = Field(default_factory=_default_repetition)
    default_lang: str = "en"
    repetition_max_chars: int = 4000
    check_fence: bool = True
    keep_scores: bool = False


def repetition_ratio(text: str, n: int, min_tokens: int) -> float:
    """1 - distinct n-grams / n-grams over the text's tokens; 0.0 below `min_tokens` tokens."""
    tokens = text.lower().split() if text.isascii() else TOKEN_RE.findall(text.lower())
    if len(tokens) < max(min_tokens, n + 1):
        return 0.0
    total = len(tokens) - n + 1
    distinct = len(set(zip(*(tokens[i:] for i in range(n)))) if n > 1 else set(tokens))
    return round(1.0 - distinct / total, 4)


def finish_reason(meta_text: str | None) -> str | None:
    """`finish_reason` from the meta JSON, at the top level or inside a nested object."""
    if not meta_text or "finish_reason" not in meta_text:
        return None
    try:
        meta = json.loads(meta_text)
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    if "finish_reason" in meta:
        return str(meta["finish_reason"])
    for value in meta.values():
        if isinstance(value, dict) and "finish_reason" in value:
            return str(value["finish_reason"])
    return None


def _same_text(a: str, b: str) -> bool:
    return _SPACES.sub(" ", a).strip().casefold() == _SPACES.sub(" ", b).strip().casefold()


@register
class ResponseFilter(Operator):
    name = "response_filter"
    Config = ResponseFilterConfig
    input_columns = ("output",)
    output_columns = ()

    def __init__(self, config=None, context=None):
        super().__init__(config, context)
        cfg = self.config
        refusals = [p.lower().replace("，", ",") for p in cfg.refusal_phrases]
        self._ascii_refusals = tuple(p for p in refusals if p.isascii())
        self._refusal_re = re.compile("|".join(re.escape(p) for p in sorted(refusals, key=len, reverse=True))
                                      ) if refusals else None
        self._tokens = tuple(t.lower() for t in cfg.template_tokens)
        self._prefixes = tuple(p.lower() for p in cfg.template_prefixes)
        starts = {c for t in self._tokens if t for c in (t[0], t[0].upper())}
        self._token_start_re = re.compile("[" + re.escape("".join(sorted(starts))) + "]") if starts else None

    def __call__(self, batch: pa.Table) -> pa.Table:
        cfg = self.config
        outputs, out_problems = read_field(batch, "output")
        inputs, in_problems = read_field(batch, "input", optional=True)
        instructions, ins_problems = read_field(batch, "instruction", optional=True)
        reasons = first_problem(out_problems, in_problems, ins_problems)
        metas = read_field(batch, "meta", optional=True)[0]
        langs = row_langs(batch, cfg.lang)
        fields = {"instruction": instructions, "input": inputs, "output": outputs}
        ratios, details = [], [None] * batch.num_rows
        for i, output in enumerate(outputs):
            lang = langs[i] or guess_lang_by_script(output)
            rule = cfg.repetition.get(lang) or cfg.repetition.get(cfg.default_lang)
            ratio = repetition_ratio(output[:cfg.repetition_max_chars], rule.n, rule.min_tokens) if rule else 0.0
            ratios.append(ratio)
            if reasons[i] is None:
                row = {name: values[i] for name, values in fields.items()}
                reasons[i], details[i] = self._check(row, metas[i], ratio, rule)
        batch = with_scores(batch, {"rep_ratio_output": ratios}, cfg.keep_scores)
        return self.decide(batch, reasons, details)

    def _check(self, row: dict[str, str], meta: str, ratio: float,
               rule: RepetitionRule | None) -> tuple[str | None, dict[str, Any] | None]:
        output = row["output"]
        if not output.strip():
            return "empty", None
        leak = self._template_leak(row)
        if leak:
            return "template_leak", leak
        if row["input"].strip() and _same_text(output, row["input"]):
            return "output_equals_input", None
        phrase = self._refusal(output)
        if phrase:
            return "refusal", {"phrase": phrase}
        finish = finish_reason(meta)
        if finish == "length":
            return "truncated", {"finish_reason": finish}
        if self.config.check_fence and output.count("```") % 2 == 1:
            return "truncated", {"unclosed_code_fence": True}
        if rule is not None and ratio >= rule.max_ratio:
            return "repetition", {"ratio": ratio, "n": rule.n, "max_ratio": rule.max_ratio}
        return None, None

    def _template_leak(self, row: dict[str, str]) -> dict[str, str] | None:
        for name in self.config.template_fields:
            text = row.get(name, "")
            if self._token_start_re is None or not self._token_start_re.search(text):
                continue
            lowered = text.lower()
            for token in self._tokens:
                if token in lowered:
                    return {"field": name, "token": token}
        head = row["output"].lstrip()[:40].lower()
        for prefix in self._prefixes:
            if head.startswith(prefix):
                return {"field": "output", "prefix": prefix}
        return None

    def _refusal(self, output: str) -> str | None:
        window = self.config.refusal_window
        text = output if len(output) <= 2 * window else output[:window] + "\n" + output[-window:]
        text = text.lower().replace("’", "'")
        if text.isascii():  # only the ASCII phrases can occur; `in` beats the regex on Latin text
            return next((phrase for phrase in self._ascii_refusals if phrase in text), None)
        match = self._refusal_re.search(text.replace("，", ",")) if self._refusal_re else None
        return match.group(0) if match else None
