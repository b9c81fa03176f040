"""Operator name -> class, for configs. Operators register themselves with `@register`.

Built-in operators are imported on first lookup of their name only, so that validating a config
imports what the config uses and nothing else (the CLI's `validate` stays fast).
"""
from __future__ import annotations

import importlib

from operators.base import Operator

_REGISTRY: dict[str, type[Operator]] = {}

BUILTIN_MODULES = {
    "normalize": "operators.normalize",
    "generate_response": "operators.generate",
    "language_filter": "operators.filters.language",
    "length_filter": "operators.filters.length",
    "instruction_filter": "operators.filters.instruction",
    "response_filter": "operators.filters.response",
    "dedup": "operators.dedup.stage",
    "translate": "operators.translate",
    "alpaca": "operators.bootstrap.alpaca",
    "self_instruct": "operators.bootstrap.self_instruct",
    "unnatural": "operators.bootstrap.unnatural",
    "generate_candidates": "operators.feedback.candidates",
    "judge": "operators.feedback.judge",
    "compare": "operators.feedback.compare",
    "critique_revise": "operators.feedback.critique_revise",
}


def register(cls: type[Operator]) -> type[Operator]:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"operator name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def get_operator(name: str) -> type[Operator]:
    if name not in _REGISTRY and name in BUILTIN_MODULES:
        importlib.import_module(BUILTIN_MODULES[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        known = sorted(set(BUILTIN_MODULES) | set(_REGISTRY))
        raise KeyError(f"unknown operator {name!r}; known: {', '.join(known)}") from None
