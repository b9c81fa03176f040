"""`generate_response`: a teacher model answers each instruction (GPT-4-LLM's data generation).

Prompts are the two Alpaca templates (with / without input) as chat messages, with an optional system
prompt; sampling defaults are the paper's (temperature 1.0, top_p 1.0, max_tokens 512). The answer
goes to `output`; `meta.llm.<stage>` records model, finish_reason, usage, latency, attempts, cost and
whether it came from the cache. Failed rows are rejected with the reason from the client
(`api_error:400`, `retries_exhausted:503`, `content_filter`, `prompt_too_long`, `budget_exhausted`,
`truncated`), never dropped.
"""
from __future__ import annotations

import logging
import math
import socket
import time
from typing import Any, Literal, Optional
from urllib.parse import urlsplit

import pyarrow as pa
from pydantic import Field

from operators.base import Operator, OperatorConfig, StageContext
from operators.llm.client import EndpointUnreachable, Outcome
from operators.llm.endpoint import LOCAL, EndpointConfig, load_api_key, redact_url, resolve_base_url
from operators.llm.prompts import build_messages
from operators.llm.service import LLMService, Request
from operators.registry import register
from operators.schema import loads_meta, update_meta

log = logging.getLogger(__name__)


class GenerateConfig(OperatorConfig):
    template: Literal["alpaca", "alpaca_zh", "plain"] = "alpaca"
    system_prompt: Optional[str] = None
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(512, ge=1)
    seed: Optional[int] = None
    on_truncated: Literal["reject", "keep"] = "reject"  # finish_reason "length"


def endpoint_config(settings: dict[str, Any]) -> EndpointConfig:
    return EndpointConfig.model_validate(settings.get("endpoint") or {})


@register
class GenerateResponse(Operator):
    name = "generate_response"
    Config = GenerateConfig
    input_columns = ("instruction", "input", "meta")
    output_columns = ("output", "meta")
    kind = "actor"

    def __init__(self, config: GenerateConfig | None = None, context: StageContext | None = None):
        super().__init__(config, context)
        settings = self.context.settings
        self.endpoint = endpoint_config(settings)
        self.service = LLMService(self.endpoint, self.context.run_id, settings.get("output_uri"))

    @classmethod
    def actor_options(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """How the runner sizes the pool: actors, CPU fraction, rows per call."""
        cfg = endpoint_config(settings)
        return {"num_actors": cfg.num_actors, "num_cpus": cfg.num_cpus_per_actor,
                "batch_size": cfg.batch_rows or 4 * cfg.concurrency_per_actor,
                "max_concurrent_calls_per_actor": 4}

    @classmethod
    def preflight(cls, settings: dict[str, Any]) -> None:
        """Run on the driver before any work: a missing key or an unreachable URL fails here, clearly."""
        cfg = endpoint_config(settings)
        url = resolve_base_url(cfg)
        if url == LOCAL:
            return  # the embedded server is started by its own stage
        load_api_key(cfg, url)
        check_reachable(url, cfg.connect_attempts, min(cfg.timeout_s, 5.0))

    def params(self) -> dict[str, Any]:
        cfg = self.config
        params: dict[str, Any] = {"temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_tokens}
        if cfg.seed is not None:
            params["seed"] = cfg.seed
        return params

    def __call__(self, batch: pa.Table) -> pa.Table:
        cfg, params = self.config, self.params()
        instructions = batch.column("instruction").to_pylist()
        inputs = batch.column("input").to_pylist() if "input" in batch.column_names else [""] * batch.num_rows
        requests = [Request(build_messages(ins, inp or "", cfg.template, cfg.system_prompt), params)
                    if ins and ins.strip() else None for ins, inp in zip(instructions, inputs)]
        outcomes = self.service.complete_many(requests)
        outputs, reasons, details, metas = [], [], [], []
        previous = batch.column("output").to_pylist() if "output" in batch.column_names else [""] * batch.num_rows
        for outcome, old in zip(outcomes, previous):
            reason, detail = self._verdict(outcome)
            outputs.append(outcome.content if outcome is not None and outcome.content is not None else (old or ""))
            reasons.append(reason)
            details.append(detail)
            metas.append({"llm": {self.stage: _meta(outcome)}} if outcome is not None else None)
        batch = _set(batch, "output", pa.array(outputs, pa.string()))
        meta_in = batch.column("meta").to_pylist() if "meta" in batch.column_names else [None] * batch.num_rows
        batch = _set(batch, "meta", update_meta(meta_in, _merge_llm(meta_in, metas)))
        return self.decide(batch, reasons, details)

    def _verdict(self, outcome: Optional[Outcome]) -> tuple[Optional[str], Optional[dict[str, Any]]]:
        if outcome is None:
            return "empty_instruction", None
        if outcome.reason:
            return outcome.reason, outcome.detail or None
        if outcome.finish_reason == "length" and self.config.on_truncated == "reject":
            return "truncated", {"finish_reason": "length", "max_tokens": self.config.max_tokens}
        return None, None


def _meta(outcome: Outcome) -> dict[str, Any]:
    return {"model": outcome.model, "finish_reason": outcome.finish_reason, "usage": outcome.usage,
            "latency_s": outcome.latency_s, "attempts": outcome.attempts, "cost_usd": outcome.cost_usd,
            "cached": outcome.cached}


def _merge_llm(meta_in: list[Optional[str]], updates: list[Optional[dict[str, Any]]]) -> list[Optional[dict]]:
    """Keep other stages' `meta.llm` entries when adding this stage's."""
    merged = []
    for text, update in zip(meta_in, updates):
        if update is None:
            merged.append(None)
            continue
        llm = dict(loads_meta(text).get("llm") or {})
        llm.update(update["llm"])
        merged.append({"llm": llm})
    return merged


def _set(batch: pa.Table, name: str, values: pa.Array) -> pa.Table:
    if name in batch.column_names:
        return batch.set_column(batch.schema.get_field_index(name), name, values)
    return batch.append_column(name, values)


def check_reachable(url: str, attempts: int, timeout_s: float) -> None:
    """TCP connect to the endpoint's host and port, `attempts` times with backoff."""
    parts = urlsplit(url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not host:
        raise EndpointUnreachable(f"endpoint base_url {redact_url(url)!r} is not an http(s) URL")
    error = "unknown"
    for attempt in range(attempts):
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return
        except OSError as err:
            error = type(err).__name__
            if attempt + 1 < attempts:
                time.sleep(min(4.0, 0.5 * math.pow(2, attempt)))
    raise EndpointUnreachable(f"cannot connect to endpoint {redact_url(url)} after {attempts} attempts "
                              f"({error}); check endpoint.base_url (or $OPENAI_BASE_URL)")
