"""The base of every LLM step: endpoints and services, prompt hook, meta/usage, preflight, actor sizing.

A subclass says how a row becomes a request (`format_input`, None: no request) and how an outcome
becomes the row's new fields (`format_output`, distilabel's pair); the base sends a batch's requests
concurrently through `LLMService` (cache, limiter, budget, retries), records `meta.llm.<stage>`
(model, finish_reason, usage, latency, attempts, cost, cached) and rejects with the returned reason.
A step that asks several times per row (candidates, judgments) overrides `format_inputs` /
`format_outputs` instead: `meta.llm.<stage>` is then a list, one entry per request.
Sources that call the model outside `__call__` use `complete` and `llm_meta` directly.

Endpoints: the config's `endpoint:` (default) or named entries of `endpoints:`; a stage config says
which through `endpoint: NAME` (`LLMStageConfig`), and each name has its own `LLMService` (limiter,
cache folder, breaker) and its own line in the manifest's `llm_endpoints`.
"""
from __future__ import annotations

import math
import socket
import time
from typing import Any, Optional
from urllib.parse import urlsplit

import pyarrow as pa

from concurrent.futures import ThreadPoolExecutor

from operators.base import Operator, StageContext
from operators.llm.client import EndpointUnreachable, Outcome
from operators.llm.endpoint import (LOCAL, ConfigurationError, EndpointConfig, LLMStageConfig,  # noqa: F401
                                    endpoint_label, endpoint_refs, load_api_key, redact_url, resolve_base_url)
from operators.llm.service import LLMService, Request
from operators.schema import TYPED_COLUMNS, loads_meta, update_meta

# (reason or None, detail or None, {column: new value} plus optional "meta": {key: value})
Verdict = tuple[Optional[str], Optional[dict[str, Any]], dict[str, Any]]
ROW_FIELDS = ("id", "instruction", "input", "output", "lang", "meta")


def endpoint_config(settings: dict[str, Any], name: Optional[str] = None) -> EndpointConfig:
    if name is None:
        return EndpointConfig.model_validate(settings.get("endpoint") or {})
    named = settings.get("endpoints") or {}
    if name not in named:
        raise ConfigurationError(f"endpoint {name!r} is not defined under `endpoints:` "
                                 f"(defined: {', '.join(sorted(named)) or 'none'})")
    return EndpointConfig.model_validate(named[name])


class LLMOperator(Operator):
    kind = "actor"
    # The row fields format_input/format_output see (missing columns read as "").
    row_fields: tuple[str, ...] = ROW_FIELDS

    def __init__(self, config=None, context: StageContext | None = None):
        super().__init__(config, context)
        model = getattr(self.config, "model", None)
        output_uri = self.context.settings.get("output_uri")
        build = self.context.settings.get("llm_service", True)  # False: the batch phase uses only format_input
        self.endpoints: dict[Optional[str], EndpointConfig] = {}
        self.services: dict[Optional[str], LLMService] = {}
        for name in endpoint_refs(self.config):
            endpoint = endpoint_config(self.context.settings, name)
            self.endpoints[name] = endpoint.model_copy(update={"model": model}) if model else endpoint
            if build:
                self.services[name] = LLMService(self.endpoints[name], self.context.run_id, output_uri, name)
        self.endpoint = next(iter(self.endpoints.values()))
        self.service = next(iter(self.services.values())) if build else None

    @classmethod
    def actor_options(cls, settings: dict[str, Any], config: Any = None) -> dict[str, Any]:
        """How the runner sizes the pool: actors, CPU fraction, rows per call (from the first endpoint)."""
        cfg = endpoint_config(settings, endpoint_refs(config)[0])
        return {"num_actors": cfg.num_actors, "num_cpus": cfg.num_cpus_per_actor,
                "batch_size": cfg.batch_rows or 4 * cfg.concurrency_per_actor,
                "max_concurrent_calls_per_actor": 4}

    @classmethod
    def preflight(cls, settings: dict[str, Any], config: Any = None) -> None:
        """Run on the driver before any work: a missing key or an unreachable URL fails here, clearly."""
        for name in endpoint_refs(config):
            cfg = endpoint_config(settings, name)
            url = resolve_base_url(cfg)
            if url == LOCAL or cfg.mode == "batch_file":
                continue  # the embedded server is started by its own stage; batch files are run elsewhere
            load_api_key(cfg, url)
            check_reachable(url, cfg.connect_attempts, min(cfg.timeout_s, 5.0))

    def format_input(self, row: dict[str, Any]) -> Optional[Request]:
        raise NotImplementedError

    def format_output(self, row: dict[str, Any], outcome: Optional[Outcome]) -> Verdict:
        raise NotImplementedError

    def format_inputs(self, row: dict[str, Any]) -> list[Optional[Request]]:
        """Every request for a row (`Request.endpoint` picks the endpoint); by default one."""
        return [self.format_input(row)]

    def format_outputs(self, row: dict[str, Any], outcomes: list[Optional[Outcome]]) -> Verdict:
        return self.format_output(row, outcomes[0])

    def complete(self, requests: list[Optional[Request]]) -> list[Optional[Outcome]]:
        """Outcomes in order; requests for different endpoints travel at the same time."""
        by_endpoint: dict[Optional[str], list[int]] = {}
        for i, request in enumerate(requests):
            if request is not None:
                by_endpoint.setdefault(request.endpoint if request.endpoint in self.services else
                                       self._unknown(request.endpoint), []).append(i)
        outcomes: list[Optional[Outcome]] = [None] * len(requests)

        def run(name: Optional[str]) -> None:
            indexes = by_endpoint[name]
            for i, outcome in zip(indexes, self.services[name].complete_many([requests[i] for i in indexes])):
                outcomes[i] = outcome
        if len(by_endpoint) == 1:
            run(next(iter(by_endpoint)))
        elif by_endpoint:
            with ThreadPoolExecutor(len(by_endpoint)) as pool:
                list(pool.map(run, by_endpoint))
        return outcomes

    def _unknown(self, name: Optional[str]) -> Optional[str]:
        if name is None and len(self.services) == 1:
            return next(iter(self.services))
        raise ConfigurationError(f"stage {self.stage}: no endpoint {name!r} among {sorted(map(str, self.services))}")

    def follow_up(self, request: Request, outcome: Optional[Outcome]) -> Optional[Request]:
        """A second request after this one's answer: ask again for a reply the step cannot use (a judge
        without a rating), or the next step of a chain (critique, then revision); None: none."""
        return None

    def format_chains(self, row: dict[str, Any], chains: list[list[Outcome]]) -> Verdict:
        """Each request's outcomes (the first, and its follow-up's); by default only the last counts."""
        return self.format_outputs(row, [chain[-1] if chain else None for chain in chains])

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = table_rows(batch, self.row_fields)
        requests = [self.format_inputs(row) for row in rows]
        flat_requests = [r for row_requests in requests for r in row_requests]
        paid = self._with_follow_ups(flat_requests, self.complete(flat_requests))
        reasons, details, updates, metas, start = [], [], [], [], 0
        for row, row_requests in zip(rows, requests):
            end = start + len(row_requests)
            chains, entry = paid[start:end], self.llm_entry(row_requests, [o for p in paid[start:end] for o in p])
            start = end
            reason, detail, update = self.format_chains(row, [[o for _, o in chain] for chain in chains])
            meta = dict(update.pop("meta", None) or {})
            if entry is not None:
                meta["llm"] = {**(loads_meta(row.get("meta")).get("llm") or {}), self.stage: entry}
            reasons.append(reason)
            details.append(detail)
            updates.append(update)
            metas.append(meta or None)
        for name in sorted({name for update in updates for name in update}):
            values = [update.get(name, row.get(name)) if name in TYPED_COLUMNS else
                      update.get(name, row.get(name) or "") for row, update in zip(rows, updates)]
            batch = set_column(batch, name, pa.array(values, TYPED_COLUMNS.get(name, pa.string())))
        batch = set_column(batch, "meta", update_meta([row.get("meta") for row in rows], metas))
        return self.decide(batch, reasons, details)

    def _with_follow_ups(self, requests: list[Optional[Request]],
                         outcomes: list[Optional[Outcome]]) -> list[list[tuple[Request, Outcome]]]:
        """Per request, every (request, outcome) paid: the first and, if there was one, its follow-up."""
        follow = [self.follow_up(r, o) if r is not None else None for r, o in zip(requests, outcomes)]
        paid = [[(r, o)] if o is not None else [] for r, o in zip(requests, outcomes)]
        if any(follow):
            for i, outcome in enumerate(self.complete(follow)):
                if outcome is not None:
                    paid[i].append((follow[i], outcome))
        return paid

    def llm_entry(self, requests: list[Optional[Request]], paid: list[tuple[Request, Outcome]]) -> Any:
        """`meta.llm.<stage>`: one request's facts, or a list of them for a step that asks several times."""
        entries = [llm_meta(o, self._endpoint_of(r)) for r, o in paid]
        if len(requests) == 1 and len(entries) <= 1:
            return entries[0] if entries else None
        return entries or None

    def _endpoint_of(self, request: Optional[Request]) -> str:
        name = request.endpoint if request is not None and request.endpoint in self.services else \
            next(iter(self.services))
        return endpoint_label(name)


def llm_meta(outcome: Outcome, endpoint: str = "endpoint") -> dict[str, Any]:
    """One request's facts; `endpoint` only for a named one (the default's rows stay as they were)."""
    entry = {"model": outcome.model, "finish_reason": outcome.finish_reason, "usage": outcome.usage,
             "latency_s": outcome.latency_s, "attempts": outcome.attempts, "cost_usd": outcome.cost_usd,
             "cached": outcome.cached}
    return entry if endpoint == "endpoint" else {**entry, "endpoint": endpoint}


def table_rows(batch: pa.Table, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows as dicts; string columns read missing values as "", typed columns (candidates) as None."""
    columns = {name: batch.column(name).to_pylist() if name in batch.column_names else [None] * batch.num_rows
               for name in fields}
    return [{name: (values[i] if name in TYPED_COLUMNS else values[i] or "") for name, values in columns.items()}
            for i in range(batch.num_rows)]


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
