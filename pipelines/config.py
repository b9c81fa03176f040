"""Pipeline configs: YAML -> validated pydantic models (reading, `--set` and `${ENV}`: config_text.py).

Errors name the file, the field path and what was expected, and never echo a value (it may be a
secret interpolated from the environment).
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from operators.base import OperatorConfig
from operators.llm.endpoint import EndpointConfig, endpoint_refs
from operators.registry import get_operator
from pipelines.config_text import (ConfigError, apply_override, interpolate, read_yaml,  # noqa: F401
                                   MAX_CONFIG_BYTES, MAX_CONFIG_NODES)
from pipelines.local_llm import LocalLLMConfig

_ENDPOINT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InputSpec(_Strict):
    uri: str
    format: Literal["auto", "jsonl", "json", "parquet", "arrow"] = "auto"
    fields: dict[str, str] = Field(default_factory=dict)  # record field -> source field (dotted path)
    lang: Optional[str] = None  # language of these rows; default: the config's `lang` ("auto": per row)
    keep_fields: tuple[str, ...] = ()  # source fields copied into meta.extra
    split: Optional[str] = None  # for directories saved by HF datasets as a DatasetDict

    @field_validator("fields")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - {"instruction", "input", "output", "lang"}
        if unknown:
            raise ValueError(f"can map only instruction, input, output, lang (not {sorted(unknown)})")
        return value


class ExportSpec(_Strict):
    """One feedback export (operators/feedback/layouts.py): a JSON array in `layout` named `name`."""
    name: str = Field(pattern=r"^[^/\\]+$")
    layout: Literal["v2", "v1", "pairs", "pairs_chat"]
    pairs_from: Literal["scores", "comparisons", "revisions"] = "scores"  # judge scores, pairwise verdicts, revisions
    min_margin: float = Field(1.0, ge=0)  # pairs from scores: chosen - rejected >= this (ties never pair)


class OutputSpec(_Strict):
    uri: str
    formats: tuple[Literal["jsonl", "parquet"], ...] = ("jsonl",)
    shard_rows: int = Field(10000, gt=0)
    lock_ttl_s: float = Field(300.0, gt=0)  # a dead holder's lock is taken over after this (heartbeat: ttl / 3)
    keep_releases: Optional[int] = Field(None, ge=1)  # `refresh`: releases kept as releases (None: all)
    alpaca_json: Optional[str] = None  # file name of an alpaca_gpt4_data.json-style export
    self_instruct_json: Optional[str] = Field(None, pattern=r"^[^/\\]+$")  # Self-Instruct seed-task layout export
    exports: tuple[ExportSpec, ...] = ()  # feedback exports (comparison data, preference pairs)
    extra_columns: tuple[str, ...] = ()  # score columns to keep in the output shards
    report: bool = True  # report.html beside the release (docs/report.md)


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


AUTO = "auto"  # `lang: auto`: each row's language is detected (language_filter), then its own rules apply


class CardSpec(_Strict):
    """Licence fields for the dataset card (README.md beside the manifest) and the report."""
    license: Optional[str] = None  # e.g. cc-by-nc-4.0
    license_url: Optional[str] = None
    notes: Optional[str] = None  # terms of the inputs or the model that the data inherits


class PipelineConfig(_Strict):
    name: str
    lang: str = AUTO
    inputs: tuple[InputSpec, ...] = ()
    source: Optional[SourceSpec] = None
    output: OutputSpec
    stages: tuple[StageSpec, ...] = ()
    ray: RaySpec = RaySpec()
    endpoint: Optional[EndpointConfig] = None  # the default for LLM stages
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict)  # named: a stage's `endpoint: NAME`
    local_llm: LocalLLMConfig = LocalLLMConfig()  # the embedded server, when endpoint.base_url is "local"
    card: CardSpec = CardSpec()

    @model_validator(mode="after")
    def _inputs_or_source(self) -> "PipelineConfig":
        if bool(self.inputs) == (self.source is not None):
            raise ValueError("give either `inputs` (at least one) or a `source`, not both")
        return self

    @field_validator("endpoints")
    @classmethod
    def _endpoint_names(cls, value: dict[str, EndpointConfig]) -> dict[str, EndpointConfig]:
        bad = [name for name in value if not _ENDPOINT_NAME.match(name)]
        if bad:
            raise ValueError(f"endpoint names must be identifiers (letters, digits, _ or -): {bad}")
        reserved = [name for name in value if name.endswith("_batches")]  # a batch-mode endpoint's ledger folder
        if reserved:
            raise ValueError(f"endpoint names may not end in '_batches' (reserved for batch mode's files): {reserved}")
        return value

    def endpoint_named(self, name: Optional[str]) -> Optional[EndpointConfig]:
        """`endpoint:` for None, else `endpoints.NAME` (None when not defined)."""
        return self.endpoint if name is None else self.endpoints.get(name)

    def all_endpoints(self) -> dict[Optional[str], EndpointConfig]:
        defined = {None: self.endpoint} if self.endpoint is not None else {}
        return {**defined, **self.endpoints}


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
        cfg = PipelineConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, path)) from None
    check_endpoint_refs(cfg, path)
    return cfg


def check_endpoint_refs(cfg: PipelineConfig, path: str) -> None:
    """Every `endpoint: NAME` a stage (or the source) gives is defined under `endpoints:`."""
    steps = [(f"stages.{i}.{s.op}", s.config) for i, s in enumerate(cfg.stages)]
    if cfg.source is not None:
        steps.append(("source", cfg.source.config))
    for where, config in steps:
        for name in endpoint_refs(config):
            if name is not None and name not in cfg.endpoints:
                raise ConfigError(f"{path}: {where}: endpoint {name!r} is not defined under `endpoints:` "
                                  f"(defined: {', '.join(sorted(cfg.endpoints)) or 'none'})")


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
