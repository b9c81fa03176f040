"""A config as text: YAML read safely, `--set key=value` overrides, `${ENV}` interpolation.

Errors name the file, the field path and what was expected, and never echo a value (it may be a
secret interpolated from the environment).
"""
from __future__ import annotations

import copy
import os
import re
from typing import Any

import yaml

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """A config that cannot run; the message names file, field path and expectation."""


MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_NODES = 100_000  # after expanding aliases: a "billion laughs" document stops here


def read_yaml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: config larger than {MAX_CONFIG_BYTES} bytes")
    loader = yaml.SafeLoader(data)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_nodes(node, {}) > MAX_CONFIG_NODES:
            raise ConfigError(f"{path}: config expands to more than {MAX_CONFIG_NODES} YAML nodes "
                              f"(aliases referring to aliases?)")
        raw = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    finally:
        loader.dispose()
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw


def _expanded_nodes(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes the document has once every alias is expanded (an alias is the same node object again)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = MAX_CONFIG_NODES + 1  # a node that contains itself expands without end
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_nodes(k, memo) + _expanded_nodes(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_nodes(item, memo) for item in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def apply_override(raw: dict[str, Any], item: str, path: str) -> None:
    """`a.b.0.c=value`; the value is parsed as YAML (numbers, booleans, lists). A `*` part stands for
    every entry there (`endpoints.*.base_url=URL` sets every named endpoint)."""
    if "=" not in item:
        raise ConfigError(f"{path}: --set {item!r}: expected key=value")
    key, value = item.split("=", 1)
    parsed = yaml.safe_load(value) if value != "" else ""
    _set(raw, key.split("."), parsed, f"{path}: --set {key}")


def _set(node: Any, parts: list[str], value: Any, where: str) -> None:
    part, rest = parts[0], parts[1:]
    if part == "*":
        children = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else None
        if not children or any(not isinstance(c, (dict, list)) for c in children) or not rest:
            raise ConfigError(f"{where}: '*' matches no mapping entries here")
        for child in children:
            _set(child, rest, copy.deepcopy(value), where)
    elif rest:
        _set(_child(node, part, nxt=rest[0], where=where), rest, value, where)
    elif isinstance(node, list):
        node[_index(node, part, where)] = value
    else:
        node[part] = value


def _child(node: Any, part: str, nxt: str, where: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, where)]
    if not isinstance(node, dict):
        raise ConfigError(f"{where}: {part!r} is inside a value that is not a mapping")
    if node.get(part) is None:
        node[part] = {}
    return node[part]


def _index(node: list, part: str, where: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"{where}: {part!r} is not an index of a list of {len(node)}")
    return int(part)


def interpolate(value: Any, path: str, where: str = "") -> Any:
    """Replace `${VAR}` in strings from the environment; a missing variable names only its name."""
    if isinstance(value, dict):
        return {k: interpolate(v, path, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, path, f"{where}.{i}") for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"{path}: {where}: environment variable {name} is not set")
            return os.environ[name]
        return _ENV.sub(substitute, value)
    return value
