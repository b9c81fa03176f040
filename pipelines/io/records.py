"""Raw input objects -> rows of the record schema (field mapping, Self-Instruct instances, checks)."""
from __future__ import annotations

import collections.abc
import json
from typing import Any, Iterator, Mapping

from operators.schema import DETAIL, REASON, STAGE, dumps_meta, record_id
from pipelines.io.fields import from_conversation, source_field
from pipelines.io.formats import RowError

TEXT_FIELDS = ("instruction", "input", "output")
MAPPINGS = (dict, collections.abc.Mapping)  # dict first: typing's Mapping check costs ~10 µs per call
READ_STAGE = "read"


def lookup(obj: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    """Value at a dotted path (`metadata.score`), and whether it was present."""
    value: Any = obj
    for part in dotted.split("."):
        if not isinstance(value, MAPPINGS) or part not in value:
            return False, None
        value = value[part]
    return True, value


def safe_rows(obj: Any, source: str, mapping: Mapping[str, str], lang: str,
              keep_fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """`to_rows`, with rows that cannot be stored (lone surrogates, absurd nesting) rejected instead."""
    try:
        rows = list(to_rows(obj, source, mapping, lang, keep_fields))
        if all(_encodable(row) for row in rows):
            return rows
    except RecursionError:
        return [reject_row(source, "json_too_deep", {"error": "nested deeper than Python's recursion limit"})]
    except UnicodeEncodeError:
        pass
    return [reject_row(source, "invalid_unicode", {"raw": _ascii_raw(obj),
                                                   "error": "lone surrogate: not valid Unicode"})]


def _encodable(row: dict[str, Any]) -> bool:
    try:
        for value in row.values():
            if isinstance(value, str):
                value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ascii_raw(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=True, default=str)
    except (TypeError, ValueError, RecursionError):
        return ascii(obj)[:10000]


def to_rows(obj: Any, source: str, mapping: Mapping[str, str], lang: str,
            keep_fields: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """One raw record -> one row, or one row per Self-Instruct instance; problems become rejects."""
    if isinstance(obj, RowError):
        yield reject_row(source, obj.reason, obj.detail)
        return
    if not isinstance(obj, MAPPINGS):
        yield reject_row(source, "not_an_object", {"raw": _raw(obj)})
        return
    instances = obj.get("instances") if "instances" in obj and "output" not in mapping else None
    if isinstance(instances, list) and instances:
        for n, instance in enumerate(instances):
            merged = {**obj, **instance} if isinstance(instance, MAPPINGS) else {**obj, "output": instance}
            merged.pop("instances", None)
            yield from to_rows(merged, f"{source}#{n}", mapping, lang, keep_fields)
        return
    if not mapping:
        flat = from_conversation(obj)
        if isinstance(flat, str):
            yield reject_row(source, flat, {"raw": _raw(obj)})
            return
        obj = flat if flat is not None else obj
    yield build_row(obj, source, mapping, lang, keep_fields)


def build_row(obj: Mapping[str, Any], source: str, mapping: Mapping[str, str], lang: str,
              keep_fields: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, str] = {}
    for name in TEXT_FIELDS + ("lang",):
        present, value = lookup(obj, source_field(obj, name, mapping))
        if name == "instruction" and (not present or value is None):
            return reject_row(source, "missing_field:instruction", {"raw": _raw(obj)})
        if value is None:
            value = lang if name == "lang" else ""
        if not isinstance(value, str):
            return reject_row(source, f"wrong_type:{name}",
                              {"raw": _raw(obj), "expected": "string", "got": type(value).__name__})
        values[name] = value
    meta: dict[str, Any] = {}
    extra = {f: lookup(obj, f)[1] for f in keep_fields if lookup(obj, f)[0]}
    if extra:
        meta["extra"] = extra
    return {"id": record_id(values["instruction"], values["input"], values["lang"]), **values,
            "source": source, "meta": dumps_meta(meta), STAGE: None, REASON: None, DETAIL: None}


def reject_row(source: str, reason: str, detail: dict[str, Any]) -> dict[str, Any]:
    raw = detail.get("raw", "")
    return {"id": record_id(raw if isinstance(raw, str) else "", "", source), "instruction": "",
            "input": "", "output": "", "lang": "", "source": source, "meta": "{}",
            STAGE: READ_STAGE, REASON: reason,
            DETAIL: json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)}


def _raw(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(obj)
