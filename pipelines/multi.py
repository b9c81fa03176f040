"""Several pipelines from one config (e.g. GPT-4-LLM's English and Chinese datasets in one run).

A multi-pipeline config has a `pipelines:` list instead of `stages:`:

    name: gpt4_llm
    pipelines:
      - config: gpt4_alpaca_en.yaml        # relative to this file; or `inline:` a whole config
        set: {output.uri: ./out/gpt4_llm/en}
      - config: gpt4_alpaca_zh.yaml
    override: {endpoint: {cache_uri: ./out/llm_cache/gpt4_llm}}   # deep-merged over every pipeline

Each pipeline is validated before any runs, then run in order on the same Ray, each publishing its own
shards, `_manifest.json` and card. CLI `--set` applies to every pipeline, `--input` replaces the inputs of
every pipeline that reads them (not of one with a `source:`), `--output ROOT` puts each pipeline
under ROOT/<name>.
"""
from __future__ import annotations

import copy
import os
from typing import Any, Optional

from pipelines.config import (ConfigError, PipelineConfig, apply_override, interpolate, read_yaml, replace_inputs,
                              validate)
from operators import storage


def is_multi(path: str) -> bool:
    try:
        return "pipelines" in read_yaml(path)
    except ConfigError:
        return False


def load_multi(path: str, overrides: list[str] = (), inputs: list[dict[str, Any]] = (),
               output: Optional[str] = None) -> list[tuple[PipelineConfig, dict[str, Any]]]:
    top = read_yaml(path)
    entries = top.get("pipelines")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: pipelines: expected a non-empty list")
    unknown = set(top) - {"name", "pipelines", "override"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)} (expected name, pipelines, override)")
    loaded, names = [], set()
    for index, entry in enumerate(entries):
        where = f"{path}: pipelines.{index}"
        raw = _entry(entry, path, where)
        if "source" not in raw:  # a bootstrapping pipeline generates its rows: --input is not for it
            replace_inputs(raw, inputs)
        _merge(raw, copy.deepcopy(top.get("override") or {}))
        for key, value in ((entry.get("set") or {}) if isinstance(entry, dict) else {}).items():
            apply_override(raw, f"{key}={_yaml_scalar(value)}", where)
        for item in overrides:
            apply_override(raw, item, where)
        if output:
            raw.setdefault("output", {})["uri"] = storage.join(output, str(raw.get("name", index)))
        cfg = validate(interpolate(copy.deepcopy(raw), where), where)
        if cfg.name in names:
            raise ConfigError(f"{where}: pipeline name {cfg.name!r} is used twice")
        names.add(cfg.name)
        loaded.append((cfg, raw))
    if inputs and all(cfg.source is not None for cfg, _ in loaded):
        raise ConfigError(f"{path}: --input given, but every pipeline generates its rows (`source:`)")
    outputs = [cfg.output.uri for cfg, _ in loaded]
    if len(set(outputs)) != len(outputs):
        raise ConfigError(f"{path}: pipelines must write to different output URIs")
    return loaded


def run_multi(loaded: list[tuple[PipelineConfig, dict[str, Any]]], address: Optional[str] = None) -> list[dict]:
    from pipelines.runner import run_pipeline
    return [run_pipeline(cfg, raw, address=address) for cfg, raw in loaded]


def _entry(entry: Any, path: str, where: str) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = {"config": entry}
    if not isinstance(entry, dict) or set(entry) - {"config", "inline", "set"} or ("config" in entry) == (
            "inline" in entry):
        raise ConfigError(f"{where}: expected `config: PATH` or `inline: {{...}}`, optionally with `set:`")
    if "inline" in entry:
        if not isinstance(entry["inline"], dict):
            raise ConfigError(f"{where}.inline: expected a mapping")
        return copy.deepcopy(entry["inline"])
    child = entry["config"]
    if not os.path.isabs(child):
        child = os.path.join(os.path.dirname(os.path.abspath(path)), child)
    raw = read_yaml(child)
    if "pipelines" in raw:
        raise ConfigError(f"{where}: {entry['config']} is itself a multi-pipeline config")
    return raw


def _merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _yaml_scalar(value: Any) -> str:
    import yaml
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
