"""Seed tasks: the Self-Instruct seed schema (id, name, instruction, instances, is_classification)
or plain Alpaca rows (instruction, input, output). Objects in, tasks out; reading files is the
pipeline's job."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class SeedTask:
    id: str
    instruction: str
    instances: tuple[tuple[str, str], ...]  # (input, output)
    is_classification: bool = False
    constraints: str = ""  # Unnatural Instructions' demonstrations carry them


def parse_seed(obj: Any, where: str) -> SeedTask | None:
    """One task, or None when the object has no usable instruction."""
    if not isinstance(obj, dict) or not isinstance(obj.get("instruction"), str) or not obj["instruction"].strip():
        return None
    raw = obj.get("instances")
    if isinstance(raw, list):
        instances = tuple((str(i.get("input") or ""), str(i.get("output") or "")) for i in raw if isinstance(i, dict))
    else:
        instances = ((str(obj.get("input") or ""), str(obj.get("output") or "")),)
    return SeedTask(str(obj.get("id") or where), obj["instruction"].strip(), instances,
                    bool(obj.get("is_classification")), str(obj.get("constraints") or ""))


def parse_seeds(objects: Iterable[tuple[str, Any]]) -> list[SeedTask]:
    """(where, object) pairs -> the usable tasks, in order."""
    return [task for where, obj in objects if (task := parse_seed(obj, where)) is not None]
