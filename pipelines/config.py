"""Pipeline configs: YAML -> validated pydantic models, `--set` overrides, `${ENV}` interpolation.

Errors name the file, the field path and what was expected, and never echo a value (it may be a
secret interpolated from the environment).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from operators.base import OperatorConfig
from operators.llm.endpoint import EndpointConfig
from operators.registry import get_operator
from pipelines.local_llm import LocalLLMConfig

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """A config that cannot run; the message names file, field path and expectation."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputSpec(_Strict):
    uri: str
    format: Literal["auto", "jsonl", "json", "parquet", "arrow"] = "auto"
    fields: dict[str, str] = Field(default_factory=dict)  # record field -> source field (dotted path)
    lang: Optional[str] = None  # language of these rows; default: the config's `lang`
    keep_fields: tuple[str, ...] = ()  # source fields copied into meta.extra
    split: Optional[str] = None  # for directories saved by HF datasets as a DatasetDict

    @field_validator("fields")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - {"instruction", "input", "output", "lang"}
        if unknown:
            raise ValueError(f"can map only instruction, input, output, lang (not {sorted(unknown)})")
        return value


class OutputSpec(_Strict):
    uri: str
    formats: tuple[Literal["jsonl", "parquet"], ...] = ("jsonl",)
    shard_rows: int = Field(10000, gt=0)
    lock_ttl_s: float = Field(300.0, gt=0)  # a dead holder's lock is taken over after this (heartbeat: ttl / 3)
    keep_releases: Optional[int] = Field(None, ge=1)  # `refresh`: releases kept as releases (None: all)
    alpaca_json: Optional[str] = None  # file name of an alpaca_gpt4_data.json-style export
    extra_columns: tuple[str, ...] = ()  # score columns to keep in the output shards


class RaySpec(_Strict):
    address: Optional[str] = None  # None: $RAY_ADDRESS, else a local Ray started for the run
    num_cpus: Optional[int] = None  # local runs only
    batch_rows: int = Field(2048, gt=0)
    preserve_order: bool = True


class StageSpec(_Strict):
    op: str
    name: str
    config: OperatorConfig


class SourceSpec(_Strict):
    """`source:` (instead of `inputs:`): a bootstrapping method that generates the rows."""
    method: str
    config: OperatorConfig


class PipelineConfig(_Strict):
    name: str
    lang: str = ""
    inputs: tuple[InputSpec, ...] = ()
    source: Optional[SourceSpec] = None
    output: OutputSpec
    stages: tuple[StageSpec, ...] = ()
    ray: RaySpec = RaySpec()
    endpoint: Optional[EndpointConfig] = None
    local_llm: LocalLLMConfig = LocalLLMConfig()  # the embedded server, when endpoint.base_url is "local"

    @model_validator(mode="after")
    def _inputs_or_source(self) -> "PipelineConfig":
        if bool(self.inputs) == (self.source is not None):
            raise ValueError("give either `inputs` (at least one) or a `source`, not both")
        return self


def load_config(path: str, overrides: list[str] = (), inputs: list[dict[str, Any] | str] = (),
                output: Optional[str] = None) -> tuple[PipelineConfig, dict[str, Any]]:
    """(validated config, the raw config before interpolation: safe to hash and to print)."""
    raw = read_yaml(path)
    replace_inputs(raw, inputs)
    for item in overrides:  # after --input, so that `--set inputs.0.lang=zh` applies to it
        apply_override(raw, item, path)
    if output:
        raw.setdefault("output", {})
        if isinstance(raw["output"], dict):
            raw["output"]["uri"] = output
    return validate(interpolate(copy.deepcopy(raw), path), path), raw


def replace_inputs(raw: dict[str, Any], inputs: list[dict[str, Any] | str]) -> None:
    """`--input` replaces the config's inputs. The config's field mapping describes its own files and
    is dropped; the rows' language (`inputs[].lang`) is kept, since the pipeline is built for it."""
    if not inputs:
        return
    configured = raw.get("inputs") if isinstance(raw.get("inputs"), list) else []
    first = configured[0] if configured and isinstance(configured[0], dict) else {}
    keep = {"lang": first["lang"]} if "lang" in first else {}
    raw["inputs"] = [{**keep, **(item if isinstance(item, dict) else {"uri": item})} for item in inputs]


def parse_fields(text: str) -> dict[str, str]:
    """`instruction=q,output=a` -> {"instruction": "q", "output": "a"}."""
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    if not pairs or any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise ConfigError(f"--fields {text!r}: expected FIELD=SOURCE[,FIELD=SOURCE...], "
                          f"e.g. instruction=question,output=answer")
    return {k.strip(): v.strip() for k, v in pairs}


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
    """`a.b.0.c=value`; the value is parsed as YAML (numbers, booleans, lists)."""
    if "=" not in item:
        raise ConfigError(f"{path}: --set {item!r}: expected key=value")
    key, value = item.split("=", 1)
    parts = key.split(".")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        node = _child(node, part, nxt=parts[depth + 1], where=f"{path}: --set {key}")
    last = parts[-1]
    parsed = yaml.safe_load(value) if value != "" else ""
    if isinstance(node, list):
        node[_index(node, last, f"{path}: --set {key}")] = parsed
    else:
        node[last] = parsed


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


def validate(raw: dict[str, Any], path: str) -> PipelineConfig:
    if not raw.get("inputs") and raw.get("source") is None:
        raise ConfigError(f"{path}: this config reads no data of its own: give it with --input URI "
                          f"(and --fields instruction=...,output=... for fields other than instruction/input/output)")
    data = dict(raw)
    data["stages"] = [_stage(item, i, path) for i, item in enumerate(raw.get("stages") or [])]
    _name_stages(data["stages"])
    if raw.get("source") is not None:
        data["source"] = _source(raw["source"], path)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, path)) from None


def _stage(item: Any, index: int, path: str) -> dict[str, Any]:
    if isinstance(item, str):
        item = {item: {}}
    if not isinstance(item, dict) or len(item) != 1:
        raise ConfigError(f"{path}: stages.{index}: expected an operator name or `- name: {{config}}`")
    (op, params), = item.items()
    try:
        op_class = get_operator(op)
    except KeyError as err:
        raise ConfigError(f"{path}: stages.{index}: {err.args[0]}") from None
    if op_class.kind == "source":
        raise ConfigError(f"{path}: stages.{index}: {op!r} is a source: give it as `source: {{method: {op}}}`")
    try:
        config = op_class.Config.model_validate(params or {})
    except ValidationError as err:
        raise ConfigError(_describe(err, path, prefix=f"stages.{index}.{op}")) from None
    return {"op": op, "name": op, "config": config}


def _source(item: Any, path: str) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("method"), str):
        raise ConfigError(f"{path}: source: expected a mapping with a `method`")
    params = {k: v for k, v in item.items() if k != "method"}
    try:
        op_class = get_operator(item["method"])
    except KeyError as err:
        raise ConfigError(f"{path}: source.method: {err.args[0]}") from None
    if op_class.kind != "source":
        raise ConfigError(f"{path}: source.method: {item['method']!r} is not a source")
    try:
        config = op_class.Config.model_validate(params)
    except ValidationError as err:
        raise ConfigError(_describe(err, path, prefix="source")) from None
    return {"method": item["method"], "config": config}


def _name_stages(stages: list[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    for stage in stages:
        seen[stage["op"]] = seen.get(stage["op"], 0) + 1
        if seen[stage["op"]] > 1:
            stage["name"] = f"{stage['op']}_{seen[stage['op']]}"


def _describe(err: ValidationError, path: str, prefix: str = "") -> str:
    lines = []
    for e in err.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(e["loc"]))
        lines.append(f"{path}: {loc or '(top level)'}: {e['msg']}")
    return "\n".join(lines)


def config_hash(raw: dict[str, Any]) -> str:
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
