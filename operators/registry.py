"""Operator name -> class, for configs. Operators register themselves with `@register`."""
from __future__ import annotations

import importlib

from operators.base import Operator

_REGISTRY: dict[str, type[Operator]] = {}

# Modules imported on first lookup so that every built-in operator is known to configs.
BUILTIN_MODULES = (
    "operators.normalize",
    "operators.generate",
    "operators.filters.language",
    "operators.filters.length",
    "operators.filters.instruction",
    "operators.filters.response",
    "operators.dedup.stage",
    "operators.translate",
    "operators.bootstrap.alpaca",
    "operators.bootstrap.self_instruct",
    "operators.bootstrap.unnatural",
)


def register(cls: type[Operator]) -> type[Operator]:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"operator name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def get_operator(name: str) -> type[Operator]:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown operator {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def operator_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)
