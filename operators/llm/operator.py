"""The base of every LLM step: endpoint and service, prompt hook, meta/usage, preflight, actor sizing.

A subclass says how a row becomes a request (`format_input`, None: no request) and how an outcome
becomes the row's new fields (`format_output`, distilabel's pair); the base sends a batch's requests
concurrently through `LLMService` (cache, limiter, budget, retries), records `meta.llm.<stage>`
(model, finish_reason, usage, latency, attempts, cost, cached) and rejects with the returned reason.
Sources that call the model outside `__call__` use `complete` and `llm_meta` directly.
"""
from __future__ import annotations

import math
import socket
import time
from typing import Any, Optional
from urllib.parse import urlsplit

import pyarrow as pa

from operators.base import Operator, StageContext
from operators.llm.client import EndpointUnreachable, Outcome
from operators.llm.endpoint import LOCAL, EndpointConfig, load_api_key, redact_url, resolve_base_url
from operators.llm.service import LLMService, Request
from operators.schema import loads_meta, update_meta

# (reason or None, detail or None, {column: new value} plus optional "meta": {key: value})
Verdict = tuple[Optional[str], Optional[dict[str, Any]], dict[str, Any]]
ROW_FIELDS = ("id", "instruction", "input", "output", "lang", "meta")


def endpoint_config(settings: dict[str, Any]) -> EndpointConfig:
    return EndpointConfig.model_validate(settings.get("endpoint") or {})


class LLMOperator(Operator):
    kind = "actor"
    # The row fields format_input/format_output see (missing columns read as "").
    row_fields: tuple[str, ...] = ROW_FIELDS

    def __init__(self, config=None, context: StageContext | None = None):
        super().__init__(config, context)
        endpoint = endpoint_config(self.context.settings)
        model = getattr(self.config, "model", None)
        self.endpoint = endpoint.model_copy(update={"model": model}) if model else endpoint
        if self.context.settings.get("llm_service", True):  # False: the batch phase uses only format_input
            self.service = LLMService(self.endpoint, self.context.run_id, self.context.settings.get("output_uri"))

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
        if url == LOCAL or cfg.mode == "batch_file":
            return  # the embedded server is started by its own stage; batch files are run elsewhere
        load_api_key(cfg, url)
        check_reachable(url, cfg.connect_attempts, min(cfg.timeout_s, 5.0))

    def format_input(self, row: dict[str, Any]) -> Optional[Request]:
        raise NotImplementedError

    def format_output(self, row: dict[str, Any], outcome: Optional[Outcome]) -> Verdict:
        raise NotImplementedError

    def complete(self, requests: list[Optional[Request]]) -> list[Optional[Outcome]]:
        return self.service.complete_many(requests)

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = table_rows(batch, self.row_fields)
        outcomes = self.complete([self.format_input(row) for row in rows])
        reasons, details, updates, metas = [], [], [], []
        for row, outcome in zip(rows, outcomes):
            reason, detail, update = self.format_output(row, outcome)
            meta = dict(update.pop("meta", None) or {})
            if outcome is not None:
                meta["llm"] = {**(loads_meta(row.get("meta")).get("llm") or {}), self.stage: llm_meta(outcome)}
            reasons.append(reason)
            details.append(detail)
            updates.append(update)
            metas.append(meta or None)
        for name in sorted({name for update in updates for name in update}):
            values = [update.get(name, row.get(name) or "") for row, update in zip(rows, updates)]
            batch = set_column(batch, name, pa.array(values, pa.string()))
        batch = set_column(batch, "meta", update_meta([row.get("meta") for row in rows], metas))
        return self.decide(batch, reasons, details)


def llm_meta(outcome: Outcome) -> dict[str, Any]:
    return {"model": outcome.model, "finish_reason": outcome.finish_reason, "usage": outcome.usage,
            "latency_s": outcome.latency_s, "attempts": outcome.attempts, "cost_usd": outcome.cost_usd,
            "cached": outcome.cached}


def table_rows(batch: pa.Table, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    columns = {name: batch.column(name).to_pylist() if name in batch.column_names else [None] * batch.num_rows
               for name in fields}
    return [{name: (values[i] or "") for name, values in columns.items()} for i in range(batch.num_rows)]


def set_column(batch: pa.Table, name: str, values: pa.Array) -> pa.Table:
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
