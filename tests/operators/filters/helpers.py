"""Build small tables of handmade rows for the filter tests."""
from __future__ import annotations

import json

import pyarrow as pa

from operators.base import run_operator
from operators.schema import make_record, records_to_table


def table(rows: list[dict]) -> pa.Table:
    records = []
    for i, row in enumerate(rows):
        meta = row.get("meta")
        record = make_record(row.get("instruction", ""), row.get("input", ""), row.get("output", ""),
                             lang=row.get("lang", ""), source=f"t:{i}",
                             meta=meta if isinstance(meta, dict) else None)
        records.append(record)
    return records_to_table(records)


def reasons(op, rows: list[dict]) -> list[str | None]:
    result, count = run_operator(op, table(rows))
    assert count.rows_in == len(rows) == count.rows_out + count.rejected
    by_source = dict(zip(result.column("source").to_pylist(), result.column("reason").to_pylist()))
    return [by_source[f"t:{i}"] for i in range(len(rows))]


def details(result: pa.Table) -> list[dict]:
    return [json.loads(d) if d else {} for d in result.column("detail").to_pylist()]
