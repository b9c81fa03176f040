"""Helpers shared by the filters: string column types, score columns, setting a column."""
from __future__ import annotations

from typing import Any

import pyarrow as pa

STRING_TYPES = (pa.string(), pa.large_string())


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
