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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from operators.base import Operator, OperatorConfig
from operators.filters.columns import (LOWER_EXPANDS, LOWER_TO_ASCII, PY_SPACE_CLASS, effective_langs, field_array,
                                       first_problem, indices, row_lang_array)
from operators.filters.common import with_scores
from operators.filters.phrases import REFUSALS, TEMPLATE_PREFIXES, TEMPLATE_TOKENS
from operators.filters.repetition import may_repeat, may_repeat_column, repetition_ratio
from operators.registry import register

_SPACES = re.compile(r"\s+")
_FOLD_EXPANDS = "[" + "".join(f"\\x{{{i:x}}}" for i in range(0x80, 0x10000) if len(chr(i).casefold()) != 1) + "]"


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


def _re2_char(c: str) -> str:
    if c in "'\u2019":
        return "['\u2019]"
    if c in ",\uff0c":
        return "[,\uff0c]"
    return "\\" + c if c.isascii() and not c.isalnum() and c != " " else c


def _re2_any(phrases: tuple[str, ...], anchor: str = "") -> str | None:
    """A case-insensitive RE2 pattern matching (at least) wherever a lower-cased phrase occurs in the
    lower-cased text, with ' and \u2019, , and \uff0c interchangeable."""
    phrases = tuple(p for p in phrases if p)
    if not phrases:
        return None
    return "(?i)" + anchor + "(?:" + "|".join("".join(map(_re2_char, p)) for p in phrases) + ")"


def _may_equal(outputs: pa.Array, inputs: pa.Array) -> pa.Array:
    """Rows whose output may equal the input up to whitespace and case: the input has text and the
    non-space character counts are equal, or within the factor 3 by which case folding can expand a
    character when one of the texts holds such a character (`ß` -> `ss`)."""
    rows = pc.indices_nonzero(pc.greater(pc.utf8_length(inputs), 0))
    if not len(rows):
        return pa.array(np.zeros(len(inputs), dtype=bool))
    n = len(inputs)
    outputs, inputs = pc.take(outputs, rows), pc.take(inputs, rows)
    space = f"[{PY_SPACE_CLASS}]"
    out_len = pc.subtract(pc.utf8_length(outputs), pc.count_substring_regex(outputs, space))
    in_len = pc.subtract(pc.utf8_length(inputs), pc.count_substring_regex(inputs, space))
    close = pc.and_(pc.less_equal(out_len, pc.multiply(in_len, 3)), pc.less_equal(in_len, pc.multiply(out_len, 3)))
    expands = pc.match_substring_regex(pc.binary_join_element_wise(outputs, inputs, "\n"), _FOLD_EXPANDS)
    found = pc.and_(pc.greater(in_len, 0), pc.or_(pc.equal(out_len, in_len), pc.and_(close, expands)))
    flags = np.zeros(n, dtype=bool)
    flags[pc.filter(rows, found).to_numpy()] = True
    return pa.array(flags)


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
        self._token_re = _re2_any(self._tokens)
        self._prefix_re = _re2_any(self._prefixes, anchor=f"^[{PY_SPACE_CLASS}]*")
        # A phrase with a line break could match across the head / tail junction: no shortcut then.
        self._refusal_re2 = None if any("\n" in p for p in refusals) else _re2_any(refusals)

    def __call__(self, batch: pa.Table) -> pa.Table:
        cfg, n = self.config, batch.num_rows
        outputs, out_problems = field_array(batch, "output")
        inputs, in_problems = field_array(batch, "input", optional=True)
        instructions, ins_problems = field_array(batch, "instruction", optional=True)
        reasons = first_problem(n, out_problems, in_problems, ins_problems)
        fields = {"instruction": instructions, "input": inputs, "output": outputs}
        metas = field_array(batch, "meta", optional=True)[0]
        langs = effective_langs(row_lang_array(batch, cfg.lang), outputs).to_pylist()
        rules = {lang: cfg.repetition.get(lang) or cfg.repetition.get(cfg.default_lang) for lang in set(langs)}
        head = pc.utf8_slice_codeunits(outputs, 0, cfg.repetition_max_chars)
        ratios: dict[int, float] = {}
        if cfg.keep_scores:
            for i, text in enumerate(head.to_pylist()):
                rule = rules[langs[i]]
                ratios[i] = repetition_ratio(text, rule.n, rule.min_tokens) if rule else 0.0
        check = set(self._candidates(fields, metas))
        check.update(self._repetitive(head, langs, rules, ratios, check, reasons))
        details: list[dict[str, Any] | None] = [None] * n
        rows = sorted(i for i in check if reasons[i] is None)
        if rows:
            take = pa.array(rows, pa.int64())
            values = {name: pc.take(column, take).to_pylist() for name, column in fields.items()}
            row_metas = pc.take(metas, take).to_pylist()
            row_heads = pc.take(head, take).to_pylist()
            for k, i in enumerate(rows):
                rule = rules[langs[i]]
                if i not in ratios:
                    ratios[i] = repetition_ratio(row_heads[k], rule.n, rule.min_tokens) if rule else 0.0
                row = {name: column[k] for name, column in values.items()}
                reasons[i], details[i] = self._check(row, row_metas[k], ratios[i], rule)
        scores = [ratios.get(i, 0.0) for i in range(n)] if cfg.keep_scores else []
        batch = with_scores(batch, {"rep_ratio_output": scores}, cfg.keep_scores)
        return self.decide(batch, reasons, details)

    def _candidates(self, fields: dict[str, pa.Array], metas: pa.Array) -> list[int]:
        """Rows that may fail a check other than repetition (a superset: `_check` decides)."""
        outputs, inputs = fields["output"], fields["input"]
        mask = pc.invert(pc.match_substring_regex(outputs, f"[^{PY_SPACE_CLASS}]"))  # empty
        # characters whose lower case is not a plain case partner go to `_check` in any field
        guard = f"[{LOWER_TO_ASCII}{LOWER_EXPANDS}]"
        for name, column in fields.items():
            patterns = [guard]
            if name in self.config.template_fields and self._token_re:
                patterns.append(self._token_re)
            if name == "output":
                patterns += [p for p in (self._prefix_re, self._refusal_re2) if p]
                if self.config.check_fence:
                    patterns.append("```")
            mask = pc.or_(mask, pc.match_substring_regex(column, "|".join(f"(?:{p})" for p in patterns)))
        if self._refusal_re2 is None and self._refusal_re is not None:
            mask = pc.or_(mask, pc.scalar(True))
        mask = pc.or_(mask, _may_equal(outputs, inputs))
        mask = pc.or_(mask, pc.match_substring(metas, "finish_reason"))
        return indices(mask)

    def _repetitive(self, head: pa.Array, langs: list[str], rules: dict[str, RepetitionRule | None],
                    ratios: dict[int, float], skip: set[int], reasons: list[str | None]) -> list[int]:
        """Rows whose output reaches their repetition threshold (`ratios` holds every row's ratio when
        scores are kept; otherwise the exact ratio is computed for the rows the bounds cannot clear)."""
        row_rules = [rules[lang] for lang in langs]
        needed = [(max(rule.min_tokens, rule.n + 1) if rule.max_ratio > 0 else 0) if rule else 1 << 62
                  for rule in row_rules]
        # tokens <= characters: texts shorter than the rule's minimum token count score 0.0
        enough = pc.greater_equal(pc.utf8_length(head), pa.array(needed, pa.int64()))
        rows = [i for i in indices(enough) if i not in skip and reasons[i] is None]
        if self.config.keep_scores:
            return [i for i in rows if ratios[i] >= row_rules[i].max_ratio]
        n = np.array([rule.n if rule else 1 for rule in row_rules])
        max_ratio = np.array([rule.max_ratio if rule else 1.0 for rule in row_rules])
        maybe = may_repeat_column(head, n, max_ratio) | (max_ratio <= 0)
        rows = [i for i in rows if maybe[i]]
        found = []
        texts = pc.take(head, pa.array(rows, pa.int64())).to_pylist() if rows else []
        for i, text in zip(rows, texts):
            rule = row_rules[i]
            if rule.max_ratio <= 0 or may_repeat(text, rule.n, rule.max_ratio):
                ratios[i] = repetition_ratio(text, rule.n, rule.min_tokens)
                if ratios[i] >= rule.max_ratio:
                    found.append(i)
        return found

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
