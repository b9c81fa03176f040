"""Running a source: seeds from storage, rounds with a barrier, a checkpoint per round, stop rules.

Round r's rows (accepted and rejected) are written to
`<output>/_bootstrap/<source key>/round-<r>.json` once the round is complete; a rerun replays those
rounds without a request and goes on from the first missing one (whose requests mostly hit the
response cache, so a run killed mid-round ends with the same rows). The key hashes the source
config, the seeds' content and the model, so changing any of them starts afresh. A round in which
the budget ran out is not checkpointed: raising the budget and rerunning resumes it.
Stops: `target` accepted, `max_rounds`, the budget, or `max_empty_rounds` rounds in a row without a
parseable item (the run publishes what was accepted and says why).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import pyarrow as pa
import ray

from operators import storage
from operators.base import StageContext, count_stage
from operators.bootstrap.seeds import SeedTask, parse_seeds
from operators.bootstrap.source import BootstrapSource, RoundResult
from operators.registry import get_operator
from operators.schema import REJECT_SCHEMA, dumps_meta
from pipelines.io.readers import InputError

log = logging.getLogger("instructpipe")
CHECKPOINTS = "_bootstrap"


def seed_uris(source_config) -> list[str]:
    seeds = source_config.seeds
    return [seeds] if isinstance(seeds, str) else list(seeds)


def read_seeds(uris: list[str]) -> tuple[list[SeedTask], str]:
    """(tasks, content fingerprint); a file with no usable task is an InputError naming it."""
    tasks, digest = [], hashlib.sha256()
    for uri in uris:
        try:
            with storage.open_read(uri) as handle:
                data = handle.read()
        except (OSError, ValueError) as err:
            raise InputError(f"{uri}: cannot read seed file ({type(err).__name__}: {err})") from None
        digest.update(uri.encode() + b"\0" + hashlib.sha256(data).digest())
        found = parse_seeds(_objects(uri, data.decode("utf-8", "replace")))
        if not found:
            raise InputError(f"{uri}: no usable seed task (expected JSON objects with a non-empty "
                             f"'instruction', in the Self-Instruct seed schema or as Alpaca rows)")
        tasks.extend(found)
    return tasks, digest.hexdigest()


def _objects(uri: str, text: str):
    if text.lstrip().startswith("["):
        try:
            return [(f"{uri}:{n}", obj) for n, obj in enumerate(json.loads(text))]
        except ValueError:
            return []
    out = []
    for n, line in enumerate(text.splitlines()):
        try:
            out.append((f"{uri}:{n + 1}", json.loads(line)))
        except ValueError:
            continue
    return out


def checkpoint_root(output_uri: str, method: str, config, fingerprint: str, model: str) -> str:
    key = json.dumps([method, config.model_dump(mode="json"), fingerprint, model], sort_keys=True)
    return storage.join(output_uri, CHECKPOINTS, hashlib.sha256(key.encode()).hexdigest()[:16])


def _round_uri(root: str, round_no: int) -> str:
    return storage.join(root, f"round-{round_no:05d}.json")


def load_round(root: str, round_no: int) -> RoundResult | None:
    uri = _round_uri(root, round_no)
    if not storage.exists(uri):
        return None
    data = json.loads(storage.read_bytes(uri))
    return RoundResult(data["rows"], data["parsed"], False)


def save_round(root: str, round_no: int, result: RoundResult) -> None:
    data = {"round": round_no, "parsed": result.parsed, "rows": result.rows}
    storage.write_bytes(_round_uri(root, round_no), dumps_meta(data).encode("utf-8"))


def run_source(method: str, config, settings: dict[str, Any], run_id: str) -> tuple[pa.Table, dict[str, Any]]:
    """All rows the source produced (rejects carry stage/reason/detail) and a report for the manifest."""
    started = time.monotonic()
    seeds, fingerprint = read_seeds(seed_uris(config))
    op: BootstrapSource = get_operator(method)(config, StageContext(method, run_id, settings))
    try:
        op.start(seeds)
        root = checkpoint_root(settings["output_uri"], method, config, fingerprint, op.endpoint.model)
        rows, stopped, replayed, empty, rounds = [], "max_rounds", 0, 0, 0
        for round_no in range(config.max_rounds):
            if len(op.generated) >= config.target:
                stopped = "target"
                break
            result = load_round(root, round_no)
            if result is not None:
                op.replay(result)
                replayed += 1
            else:
                result = op.run_round(round_no)
                if not result.budget_exhausted:
                    save_round(root, round_no, result)
            rows.extend(result.rows)
            rounds += 1
            if result.budget_exhausted:
                stopped = "budget"
                break
            empty = 0 if result.parsed else empty + 1
            if empty >= config.max_empty_rounds:
                stopped = "no_parseable_items"
                break
        else:
            if len(op.generated) >= config.target:
                stopped = "target"
    finally:
        op.service.close()
    report = {"method": method, "rounds": rounds, "replayed_rounds": replayed, "accepted": len(op.accepted),
              "pooled": len(op.generated),
              "candidates": len(rows), "stopped": stopped, "llm": dict(op.usage), "seeds": len(seeds),
              "seed_files": seed_uris(config), "elapsed_s": round(time.monotonic() - started, 3)}
    if stopped not in ("target", "max_rounds"):
        report["message"] = (f"bootstrapping stopped early ({_why(stopped, config)}) after {rounds} round(s) with "
                             f"{len(op.generated)} of the {config.target} instructions wanted; publishing the "
                             f"{len(op.accepted)} row(s) accepted")
        log.warning("%s", report["message"])
    return _table(rows), report


def source_fingerprint(cfg) -> str:
    """The seeds' content, for the run id (reading them also checks them before any call)."""
    return read_seeds(seed_uris(cfg.source.config))[1]


def source_dataset(cfg, settings: dict[str, Any], run_id: str, reporter) -> tuple[ray.data.Dataset, dict]:
    """Run the source to the end (rounds need a barrier), count it as stage 0, hand its rows to Ray Data."""
    method = cfg.source.method
    table, report = run_source(method, cfg.source.config, settings, run_id)
    reporter.count(method, "source", count_stage(table, method, table.num_rows))
    size = cfg.ray.batch_rows
    blocks = [table.slice(start, size) for start in range(0, table.num_rows, size)] or [table]
    return ray.data.from_arrow(blocks), report


def _why(stopped: str, config) -> str:
    if stopped == "budget":
        return "the LLM budget ran out; raise endpoint.max_requests / max_cost_usd and rerun to resume"
    return f"the model returned no parseable item in {config.max_empty_rounds} rounds in a row"


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in REJECT_SCHEMA})
