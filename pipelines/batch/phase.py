"""One LLM stage's batch phase on the driver: resume recorded batches, scan the stage's requests,
submit them (budget first, ledger before waiting), wait, collect, resubmit what may be, write the view."""
from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any, Optional

from operators import storage
from operators.base import split_live
from operators.llm.batch_settings import batch_location
from operators.llm.cache import ResponseCache, cache_key
from operators.llm.client import request_body
from operators.llm.endpoint import (ConfigurationError, Price, cache_location, endpoint_label, redact_url,
                                    resolve_base_url)
from operators.llm.keyset import KeySet
from operators.llm.operator import table_rows
from operators.llm.prompts import estimate_tokens
from operators.llm.service import context_check
from pipelines.batch.ledger import Ledger
from pipelines.batch.provider import TERMINAL, Provider
from pipelines.batch.requests import RequestFiles, file_keys, read_lines
from pipelines.batch.results import Tally, absorb

log = logging.getLogger("instructpipe.batch")


class BatchRejected(RuntimeError):
    """The provider refused a request file (validation failed): nothing is published."""


class BatchCancelled(RuntimeError):
    """Batches of this run were cancelled while it waited."""


class StagePhase:
    def __init__(self, op, run_id: str, output_uri: Optional[str], name: Optional[str] = None):
        """`name`: the stage's endpoint under `endpoints:` (None: `endpoint:`); its cache is the sync path's."""
        self.op, self.cfg, self.stage, self.run_id = op, op.endpoints[name], op.stage, run_id
        self.label = endpoint_label(name)
        self.cache_uri = cache_location(self.cfg, output_uri, name)
        if self.cache_uri is None:
            raise ConfigurationError(f"stage {self.stage}: {self.label}.mode {self.cfg.mode} needs the response cache "
                                     f"({self.label}.cache_uri must not be 'none')")
        self.cache = ResponseCache(self.cache_uri)
        self.cache.refresh()
        self.ledger = Ledger(self.cache_uri)
        self.work = storage.join(batch_location(self.cache_uri), "work",
                                 f"{run_id}-{self.stage}-{uuid.uuid4().hex[:6]}")
        self.price = (self.cfg.price() or Price()).batch() if self.cfg.price() else None
        self.where = f"endpoint {redact_url(resolve_base_url(self.cfg))}"
        self.decided: dict[str, dict[str, Any]] = {}
        self.bought: list[str] = []
        self.attempts: dict[str, int] = {}
        self.committed_usd, self.sent, self.cancelled = 0.0, 0, []

    # --- scan ------------------------------------------------------------------------------------
    def scan(self, ds, directory: str, prefix: str) -> list[dict[str, Any]]:
        """Request files of every live row's request that the cache does not answer (each key once)."""
        writer = RequestFiles(directory, prefix, self.cfg.batch, self.price)
        model, seen = self.cfg.model, KeySet()
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=4096):
            live, _ = split_live(batch)
            for row in table_rows(live, self.op.row_fields):
                request = self.op.format_input(row)
                if request is None:
                    continue
                key = cache_key(model, request.messages, request.params)
                if key in seen or key in self.cache or key in self.decided:
                    continue
                seen.add(key)
                if context_check(self.cfg, request, estimate_tokens(request.messages)) is None:
                    writer.add(key, request_body(model, request.messages, request.params))
        return writer.close()

    # --- batch mode ------------------------------------------------------------------------------
    def run_batch(self, ds) -> None:
        provider = Provider(self.cfg)
        resumed = self.ledger.pending(provider.where)
        if resumed:
            log.info("stage %s: collecting %d batch(es) recorded by an earlier run", self.stage, len(resumed))
            self.wait(provider, [self.ensure_created(provider, r) for r in resumed])
        files = self.scan(ds, self.work, "g0")
        generation = 0
        try:
            while files:
                records = self.submit(provider, files, generation)
                resubmit = self.wait(provider, records)
                if self.cancelled:
                    raise BatchCancelled(f"stage {self.stage}: batch(es) {', '.join(self.cancelled)} were cancelled; "
                                         f"run again to submit the requests without a result")
                generation += 1
                files = self.next_round(records, resubmit, generation)
        finally:
            self.cache.flush()
        self.forget_request_files()

    def forget_request_files(self) -> None:
        """Request files of collected batches are not needed any more (the ledger keeps their records)."""
        for record in self.ledger.records():
            if record["collected"] and storage.exists(record.get("request_file") or ""):
                storage.delete(record["request_file"])
        if storage.exists(self.work) and not storage.list_children(self.work):
            storage.delete(self.work)

    def submit(self, provider: Provider, files: list[dict[str, Any]], generation: int) -> list[dict[str, Any]]:
        records, refused = [], False
        for f in files:
            refused = refused or self.over_budget(f)
            if refused:
                self.refuse(f)
                continue
            record = self.ledger.new(stage=self.stage, run_id=self.run_id, base_url=provider.where,
                                     model=self.cfg.model, api_key_env=self.cfg.api_key_env,
                                     request_file=f["uri"], requests=f["requests"], bytes=f["bytes"],
                                     estimate_usd=f["estimate_usd"], generation=generation)
            record["file_id"] = provider.upload(f["uri"])
            record["status"] = "uploaded"
            self.ledger.save(record)
            records.append(self.ensure_created(provider, record, fresh=True))
            self.committed_usd += f["estimate_usd"]
            self.sent += f["requests"]
        return records

    def ensure_created(self, provider: Provider, record: dict[str, Any], fresh: bool = False) -> dict[str, Any]:
        """The record's batch; one recorded as uploaded by a killed driver is looked up before creating it."""
        if record.get("batch_id"):
            return record
        batch = provider.find_by_input(record["file_id"]) if record.get("file_id") and not fresh else None
        if batch is None and record.get("file_id"):
            batch = provider.create(record["file_id"], {"instructpipe_stage": record["stage"],
                                                        "instructpipe_run": record["run_id"]})
        if batch is None:  # killed during the upload: nothing was submitted, the scan sends its requests
            record.update(status="abandoned", collected=True)
        else:
            record.update(batch_id=batch["id"], status=batch["status"])
            log.info("stage %s: submitted batch %s (%d requests, estimated $%.4f)", record["stage"], batch["id"],
                     record["requests"], record["estimate_usd"])
        self.ledger.save(record)
        return record

    def over_budget(self, f: dict[str, Any]) -> bool:
        cfg = self.cfg
        return (cfg.max_cost_usd is not None and self.committed_usd + f["estimate_usd"] > cfg.max_cost_usd) or \
            (cfg.max_requests is not None and self.sent + f["requests"] > cfg.max_requests)

    def refuse(self, f: dict[str, Any]) -> None:
        log.warning("stage %s: a batch of %d requests (estimated $%.4f) would exceed max_cost_usd=%s / "
                    "max_requests=%s: not submitted; its rows go to rejects as budget_exhausted", self.stage,
                    f["requests"], f["estimate_usd"], self.cfg.max_cost_usd, self.cfg.max_requests)
        detail = {"mode": "batch", "estimate_usd": f["estimate_usd"], "max_cost_usd": self.cfg.max_cost_usd}
        for _, key, _ in read_lines(f["uri"]):
            self.decided[key] = {"reason": "budget_exhausted", "detail": detail, "attempts": 0}

    def wait(self, provider: Provider, records: list[dict[str, Any]]) -> KeySet:
        """Poll with backoff until every batch ends; collect each as it does. Returns keys to resubmit."""
        open_ = {r["id"]: r for r in records if not r["collected"]}
        delay, started, resubmit = self.cfg.batch.poll_s, time.monotonic(), KeySet()
        while open_:
            for record in list(open_.values()):
                batch = provider.retrieve(record["batch_id"])
                if batch["status"] != record["status"]:
                    record["status"] = batch["status"]
                    self.ledger.save(record)
                if batch["status"] in TERMINAL:
                    self.collect(provider, record, batch, resubmit)
                    del open_[record["id"]]
            if not open_:
                break
            limit = self.cfg.batch.max_wait_s
            if limit is not None and time.monotonic() - started > limit:
                raise TimeoutError(f"stage {self.stage}: {len(open_)} batch(es) still running after {limit:g} s; "
                                   f"they stay recorded: run again later to collect them")
            time.sleep(delay)
            delay = min(delay * 1.5, self.cfg.batch.poll_max_s)
        return resubmit

    def collect(self, provider: Provider, record: dict[str, Any], batch: dict[str, Any], resubmit: KeySet) -> None:
        """The batch's results into the cache and `decided`; what may be sent again into `resubmit`."""
        if batch["status"] == "failed":
            record.update(collected=True)
            self.ledger.save(record)
            raise BatchRejected(rejection(record, batch))
        keys = file_keys(record["request_file"])
        tally = Tally()
        for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
            if file_id:
                absorb(provider.lines(file_id), keys, self.cfg, self.cache, tally, batch["id"], self.attempts,
                       self.where)
        if tally.unknown:
            log.warning("batch %s: %d result line(s) with an unknown or repeated custom_id ignored",
                        batch["id"], tally.unknown)
        self.bought.append(batch["id"])
        self.decided.update(tally.decided)
        # resumed from another run: the scan picks up what is still open
        again = resubmit if record["run_id"] == self.run_id and record["stage"] == self.stage else KeySet()
        self.retries(tally, again)
        self.missing(record, batch, len(keys) - len(tally.seen), tally.seen, again)
        record.update(collected=True, counts=tally.counts())
        self.ledger.save(record)

    def retries(self, tally: Tally, again: KeySet) -> None:
        for key, label in tally.retry.items():
            self.attempts[key] = self.attempts.get(key, 0) + 1
            if self.attempts[key] <= self.cfg.max_retries:
                again.add(key)
            else:
                self.decided[key] = {"reason": f"retries_exhausted:{label}", "attempts": self.attempts[key],
                                     "detail": {"mode": "batch", "attempts": self.attempts[key]}}

    def missing(self, record: dict[str, Any], batch: dict[str, Any], count: int, seen: KeySet,
                again: KeySet) -> None:
        """The `count` requests without any result line: an expired batch's are resubmitted (bounded)."""
        if not count:
            return
        if batch["status"] == "cancelled":
            self.cancelled.append(batch["id"])
            return
        resubmit = record.get("generation", 0) < self.cfg.batch.max_resubmits
        if resubmit:
            log.info("batch %s %s: %d request(s) without a result will be resubmitted", batch["id"],
                     batch["status"], count)
        for _, key, _ in read_lines(record["request_file"]):
            if key in seen:
                continue
            if resubmit:
                again.add(key)
            else:
                self.decided[key] = {"reason": f"batch_{batch['status']}", "attempts": record.get("generation", 0) + 1,
                                     "detail": {"mode": "batch", "batch_id": batch["id"]}}

    def next_round(self, records: list[dict[str, Any]], keys: KeySet, generation: int) -> list[dict[str, Any]]:
        if not len(keys):
            return []
        writer = RequestFiles(self.work, f"g{generation}", self.cfg.batch, self.price)
        for record in records:
            for _, key, line in read_lines(record["request_file"]):
                if key in keys:
                    writer.add(key, json.loads(line)["body"])
        return writer.close()


def rejection(record: dict[str, Any], batch: dict[str, Any]) -> str:
    errors = ((batch.get("errors") or {}).get("data") or [])[:10]
    where = "; ".join(f"line {e.get('line') if e.get('line') is not None else '?'}: {e.get('message') or e.get('code')}"
                      for e in errors) or "no details given"
    return (f"the provider rejected request file {record['request_file']} (batch {batch['id']}, stage "
            f"{record['stage']}): {where}")
