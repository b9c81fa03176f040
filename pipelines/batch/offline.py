"""`mode: batch_file`: request files for an offline runner (`vllm run-batch -i FILE -o OUT`), then a
later run reads its output files (`endpoint.batch.file_results`) into the response cache."""
from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Iterator

from operators import storage
from operators.llm.batch_settings import batch_location
from operators.llm.keyset import KeySet
from pipelines.batch.phase import StagePhase
from pipelines.batch.requests import RequestFiles, file_keys, read_lines
from pipelines.batch.results import Tally, absorb
from pipelines.errors import WaitingForBatchResults

log = logging.getLogger("instructpipe.batch")


def result_lines(uri: str) -> Iterator[dict[str, Any]]:
    """Every JSONL line of the results: one file, or every file below a directory."""
    uris = [u for u, _ in storage.list_files(uri)] if storage.is_dir(uri) else [uri]
    for one in uris:
        for raw in storage.iter_lines(one):
            if raw.strip():
                try:
                    yield json.loads(raw)
                except ValueError:
                    yield {}  # a damaged line: counted as unknown


def run_file(phase: StagePhase, ds) -> None:
    cfg = phase.cfg.batch
    files = phase.scan(ds, phase.work, "scan")
    try:
        keys = file_keys(*[f["uri"] for f in files])  # each once: the scan wrote every key once
        seen = ingest(phase, cfg.file_results, keys) if cfg.file_results and len(keys) else KeySet()
        remaining = len(keys) - len(seen)
        if not remaining:
            return
        target = cfg.file_uri or storage.join(batch_location(phase.cache_uri), "files", f"{phase.run_id}-{phase.stage}")
        for old in storage.list_children(target):
            storage.delete(old)
        writer = RequestFiles(target, "requests", cfg, phase.price)
        for f in files:
            for _, key, line in read_lines(f["uri"]):
                if key not in seen:
                    writer.add(key, json.loads(line)["body"])
        written = writer.close()
    finally:
        storage.delete(phase.work)
    first = written[0]["uri"]
    raise WaitingForBatchResults(
        f"stage {phase.stage}: {remaining} request(s) in {len(written)} file(s) under {target}; run them, "
        f"e.g. `vllm run-batch -i {first} -o results/{first.rsplit('/', 1)[-1]} --model {phase.cfg.model}` for "
        f"each file, then run again with --set {phase.label}.batch.file_results=results/ "
        f"(or {phase.label}.batch_file_results=results/)")


def ingest(phase: StagePhase, uri: str, keys: KeySet) -> KeySet:
    tally = Tally()
    label = "file-" + hashlib.sha256(uri.encode()).hexdigest()[:12]
    absorb(result_lines(uri), keys, phase.cfg, phase.cache, tally, label, {}, phase.where)
    for key, fault in tally.retry.items():  # nothing to retry offline: the row is rejected, a rerun tries again
        tally.decided[key] = {"reason": f"retries_exhausted:{fault}", "attempts": 1, "detail": {"mode": "batch_file"}}
    if tally.unknown:
        log.warning("%s: %d result line(s) with an unknown or repeated custom_id ignored", uri, tally.unknown)
    log.info("%s: %d answers, %d rejected", uri, tally.answered, len(tally.decided))
    phase.bought.append(label)
    phase.decided.update(tally.decided)
    return tally.seen
