"""Text normaliser: Unicode NFKC, control characters stripped, whitespace trimmed."""
from __future__ import annotations

import re
import unicodedata
from typing import Literal

import pyarrow as pa

from operators.base import Operator, OperatorConfig
from operators.registry import register

# C0/C1 controls except tab and newline, plus zero-width and BOM characters.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200d\u2060\ufeff]")
_SPACE_RUNS = re.compile(r"[ \t\u00a0\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class NormalizeConfig(OperatorConfig):
    form: Literal["NFKC", "NFC", "none"] = "NFKC"
    fields: tuple[str, ...] = ("instruction", "input", "output")
    collapse_spaces: bool = False  # True also folds runs of spaces and indentation (breaks code)


def normalize_text(text: str, form: str = "NFKC", collapse_spaces: bool = False) -> str:
    """Normal form, no control characters, no trailing spaces, at most one blank line in a row."""
    if form != "none":
        text = unicodedata.normalize(form, text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if collapse_spaces:
        lines = [_SPACE_RUNS.sub(" ", line).strip() for line in text.split("\n")]
    else:
        lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


@register
class Normalize(Operator):
    name = "normalize"
    Config = NormalizeConfig
    input_columns = ("instruction",)
    output_columns = ("instruction", "input", "output")

    def __call__(self, batch: pa.Table) -> pa.Table:
        cfg = self.config
        for name in cfg.fields:
            if name not in batch.column_names:
                continue
            values = [normalize_text(v, cfg.form, cfg.collapse_spaces) if v else ""
                      for v in batch.column(name).to_pylist()]
            batch = batch.set_column(batch.schema.get_field_index(name), name, pa.array(values, pa.string()))
        reasons = [None if text else "empty_instruction" for text in batch.column("instruction").to_pylist()]
        return self.decide(batch, reasons)
