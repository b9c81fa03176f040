"""Per-row reference definitions that the whole-column helpers of `operators/filters/columns.py`
are tested against (reading fields, row languages, the script guess)."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from operators.filters.common import STRING_TYPES
from operators.filters.langid import normalize_lang
from operators.filters.script import count_han


def read_field(batch: pa.Table, name: str, optional: bool = False) -> tuple[list[str], list[str | None]]:
    """(texts, problems): a problem per row is `missing_field:<name>` or `wrong_type:<name>`.

    A missing column or a null value is `missing_field` unless `optional` (then it reads as "");
    a column that is not a string column is `wrong_type` for every non-null value.
    """
    n = batch.num_rows
    if name not in batch.column_names:
        return [""] * n, [None if optional else f"missing_field:{name}"] * n
    column = batch.column(name)
    missing = None if optional else f"missing_field:{name}"
    if column.type not in STRING_TYPES:
        valid = pc.is_valid(column).to_pylist() if n else []
        return [""] * n, [f"wrong_type:{name}" if ok else missing for ok in valid]
    values = column.to_pylist()
    texts = ["" if v is None else v for v in values]
    problems = [missing if v is None else None for v in values]
    return texts, problems


def row_langs(batch: pa.Table, default: str | None) -> list[str]:
    """Per-row language: normalised `lang` column, else `default`, else "" (unknown)."""
    if "lang" in batch.column_names and batch.column("lang").type in STRING_TYPES:
        values = batch.column("lang").to_pylist()
    else:
        values = [None] * batch.num_rows
    fallback = normalize_lang(default) if default else ""
    return [normalize_lang(v) or fallback for v in values]


def guess_lang_by_script(text: str) -> str:
    """Cheap zh/en guess for length units: Chinese when Han characters are >= 30% of visible chars."""
    if text.isascii():
        return "en"
    visible = len(text) - text.count(" ") - text.count("\n")
    return "zh" if count_han(text[:2000]) >= 0.3 * min(visible, 2000) else "en"
