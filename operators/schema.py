"""The record schema every stage reads and writes, and the id rule.

Columns are fixed Arrow types. `meta` is a JSON object encoded as a string so that stages can add
lineage (parent id, stages passed, model, usage, scores, ...) without changing the Arrow schema.
Rejected rows carry three more columns: `stage`, `reason` and `detail` (JSON object as a string).

Typed columns (`TYPED_COLUMNS`) exist only in pipelines whose stages make them: `candidates` (several
models' answers to the row, with their judge scores) and `comparisons` (pairwise verdicts between them).
The sink keeps them in shards and rejects with these types.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any, Iterable

import pyarrow as pa

RECORD_FIELDS = ("id", "instruction", "input", "output", "lang", "source", "meta")
RECORD_SCHEMA = pa.schema([(name, pa.string()) for name in RECORD_FIELDS])

USAGE_TYPE = pa.struct([("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()),
                        ("total_tokens", pa.int64())])
# One answer: who gave it (`source`: endpoint name, `#k` for the k-th sample), or why it failed (`reason`);
# the judge's `score` 1-10 (null: not scored, `score_reason` says why), `score_spread` over `samples: k`.
CANDIDATE_TYPE = pa.struct([("source", pa.string()), ("response", pa.string()), ("finish_reason", pa.string()),
                            ("usage", USAGE_TYPE), ("reason", pa.string()), ("score", pa.float64()),
                            ("score_spread", pa.float64()), ("score_reason", pa.string())])
# One pair judged twice: `ab` the verdict with a's answer shown first, `ba` with b's first (both in terms
# of a/b: "a", "b", "tie"); `result`: "a", "b", "tie", "inconsistent" (the two disagree: a tie) or
# "judge_unparsed"; `judge`: the endpoint; lengths for the length-aware summary.
COMPARISON_TYPE = pa.struct([("a", pa.string()), ("b", pa.string()), ("ab", pa.string()), ("ba", pa.string()),
                             ("result", pa.string()), ("judge", pa.string()), ("a_chars", pa.int64()),
                             ("b_chars", pa.int64())])
TYPED_COLUMNS = {"candidates": pa.list_(CANDIDATE_TYPE), "comparisons": pa.list_(COMPARISON_TYPE)}

STAGE, REASON, DETAIL = "stage", "reason", "detail"
REJECT_FIELDS = (STAGE, REASON, DETAIL)
REJECT_SCHEMA = pa.schema(list(RECORD_SCHEMA) + [(name, pa.string()) for name in REJECT_FIELDS])

_SPACES = re.compile(r"\s+")


def id_text(text: str) -> str:
    """The normal form used only for ids: NFKC, whitespace collapsed, trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text or "")).strip()


def record_id(instruction: str, input: str, lang: str) -> str:
    """Stable id: 128-bit BLAKE2b of the normalised instruction, input and language."""
    key = "\x1f".join((id_text(instruction), id_text(input), lang or ""))
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).hexdigest()


def dumps_meta(meta: dict[str, Any] | None) -> str:
    return json.dumps(meta or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def loads_meta(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"unparsed_meta": text}
    return value if isinstance(value, dict) else {"unparsed_meta": value}


def make_record(instruction: str, input: str = "", output: str = "", lang: str = "",
                source: str = "", meta: dict[str, Any] | None = None) -> dict[str, str]:
    return {
        "id": record_id(instruction, input, lang),
        "instruction": instruction,
        "input": input,
        "output": output,
        "lang": lang,
        "source": source,
        "meta": dumps_meta(meta),
    }


def records_to_table(records: Iterable[dict[str, Any]], schema: pa.Schema = RECORD_SCHEMA) -> pa.Table:
    rows = list(records)
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema})


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Put `table` in `schema`'s column order and types; extra columns are kept after them."""
    columns, names = [], []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
        names.append(field.name)
    for name in table.column_names:
        if name not in names:
            columns.append(table.column(name))
            names.append(name)
    return pa.table(columns, names=names)


def update_meta(metas: Iterable[str | None], updates: Iterable[dict[str, Any] | None]) -> pa.Array:
    """Merge one dict per row into the `meta` JSON; a None update leaves the row's meta as it is."""
    out = []
    for text, update in zip(metas, updates):
        if not update:
            out.append(text if text else "{}")
            continue
        meta = loads_meta(text)
        meta.update(update)
        out.append(dumps_meta(meta))
    return pa.array(out, pa.string())
