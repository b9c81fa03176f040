"""Every check that can be made before any work, for `validate` and for `run` before Ray starts.

Each failure is one line naming what to change. Nothing here imports Ray or starts a process.
"""
from __future__ import annotations

import os
from typing import Optional

from operators import storage
from operators.llm.endpoint import LOCAL, EndpointConfig, endpoint_label, endpoint_refs, load_api_key, resolve_base_url
from operators.registry import get_operator
from pipelines import local_llm
from pipelines.config import ConfigError, PipelineConfig
from pipelines.io.errors import InputError


def check_before_work(cfg: PipelineConfig, list_remote: bool = False) -> None:
    """Inputs exist, the output is writable, LLM stages have a usable endpoint.
    Remote inputs (s3://, gs://) are looked up only with `list_remote` (a run, not `validate`)."""
    for spec in cfg.inputs:
        if list_remote or not _is_remote(spec.uri):
            check_input(spec.uri)
    check_output(cfg.output.uri)
    check_endpoint(cfg)


def check_input(uri: str) -> None:
    if storage.info(uri).type == storage.pafs.FileType.NotFound:
        raise InputError(f"input not found: {uri}")


def check_output(uri: str) -> None:
    """A local output must be a directory, or creatable in a writable directory."""
    if _is_remote(uri):
        return
    path = os.path.abspath(uri)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"output {uri} is not writable: it is a file, not a directory; choose another --output")
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ConfigError(f"output {uri} is not writable: {parent} is a file; choose another --output")
    if not os.access(parent, os.W_OK | os.X_OK):
        reason = "Read-only file system" if os.statvfs(parent).f_flag & os.ST_RDONLY else "Permission denied"
        raise ConfigError(f"output {uri} is not writable: {reason} (under {parent}); choose another --output")


def check_endpoint(cfg: PipelineConfig) -> None:
    """Every endpoint an LLM stage uses (`endpoint:` or `endpoints.NAME`) has a key and, with a budget, a price."""
    llm_stages = [s for s in cfg.stages if getattr(get_operator(s.op), "preflight", None) is not None]
    for stage in llm_stages:
        for name in endpoint_refs(stage.config):
            endpoint = cfg.endpoint_named(name)
            if endpoint is None:  # a name is checked by the config itself; this is the default
                raise ConfigError(f"{cfg.name}: stage {stage.name} talks to a model but the config has no "
                                  f"`endpoint:` section: add one (base_url, model, api_key_env)")
            check_one(endpoint, endpoint_label(name), getattr(stage.config, "model", None))


def check_one(endpoint: EndpointConfig, label: str, model: Optional[str]) -> None:
    if local_llm.wanted(endpoint):
        local_llm.check_installed()
        return
    url = resolve_base_url(endpoint)
    if url != LOCAL:
        load_api_key(endpoint, url)
    for name in {endpoint.model, model} - {None}:
        check_price(endpoint, name, label)


def check_price(endpoint: EndpointConfig, model: str, label: str = "endpoint") -> None:
    """A budget needs a price: without one the cost of a request is unknown."""
    if endpoint.max_cost_usd is None or endpoint.model_copy(update={"model": model}).price() is not None:
        return
    raise ConfigError(f"{label}.max_cost_usd is {endpoint.max_cost_usd:g} but no price is known for model "
                      f"{model!r}: set {label}.prices.{model}.prompt_usd_per_1m and .completion_usd_per_1m, "
                      f"or --set {label}.max_cost_usd=null")


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")
