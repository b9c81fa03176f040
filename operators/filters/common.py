"""Helpers shared by the filters: score columns, and the per-row reference definitions (reading fields,
row languages, the script guess) that the whole-column versions in `columns.py` are tested against."""
from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from operators.filters.langid import normalize_lang
from operators.filters.script import count_han

STRING_TYPES = (pa.string(), pa.large_string())


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


def first_problem(*problem_lists: Sequence[str | None]) -> list[str | None]:
    """Row-wise first non-None problem across several lists."""
    out: list[str | None] = [None] * len(problem_lists[0]) if problem_lists else []
    for problems in problem_lists:
        for i, problem in enumerate(problems):
            if out[i] is None and problem is not None:
                out[i] = problem
    return out


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


def with_scores(batch: pa.Table, scores: dict[str, list[Any]], keep: bool) -> pa.Table:
    """Set (or drop, when not kept) the score columns."""
    for name, values in scores.items():
        if name in batch.column_names:
            batch = batch.drop_columns([name])
        if keep:
            batch = batch.append_column(name, pa.array(values))
    return batch


def set_column(batch: pa.Table, name: str, values: list[Any], type_: pa.DataType = pa.string()) -> pa.Table:
    array = pa.array(values, type_)
    if name in batch.column_names:
        return batch.set_column(batch.schema.get_field_index(name), name, array)
    return batch.append_column(name, array)
