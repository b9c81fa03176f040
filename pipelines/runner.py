"""config -> Ray Data plan (read -> stages -> staged shards) -> accounting check -> publish."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import time
from typing import Any, Optional

import ray

from operators.base import StageContext
from operators.registry import get_operator
from operators.schema import RECORD_SCHEMA, TYPED_COLUMNS
from pipelines import VERSION, bootstrap, local_llm, progress, report
from pipelines.accounting import Accountant, Reporter, verify
from pipelines.batch import driver as batch_driver
from pipelines.card import dataset_card
from pipelines.config import AUTO, PipelineConfig, config_hash
from operators import storage
from pipelines.io import publish
from operators.feedback.summary import summarise_rows
from pipelines.io.exports import (FEEDBACK_FIELDS, export_alpaca_json, export_feedback, export_self_instruct_json,
                                  iter_rows)
from pipelines.io.lock import OutputLock
from pipelines.outcome import check_outcome
from pipelines.redact import redact_config
from pipelines.io.readers import InputFile, InstructionDatasource, content_fingerprint, expand_input, pop_skipped
from pipelines.io.records import READ_STAGE
from pipelines.io.layout import STAGING
from pipelines.io.sink import ShardSink, collect, llm_usage
from pipelines.preflight import check_before_work
from pipelines.stages import apply_stage, merge_global_counts

log = logging.getLogger("instructpipe")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def list_inputs(cfg: PipelineConfig) -> list[InputFile]:
    files = []
    for spec in cfg.inputs:
        lang = spec.lang if spec.lang is not None else cfg.lang
        lang = "" if lang == AUTO else lang  # unknown until detected
        for uri, size, fmt in expand_input(spec.uri, spec.format, spec.split):
            copy = sum(1 for f in files if f.uri == uri)
            files.append(InputFile(uri, size, fmt, tuple(sorted(spec.fields.items())), lang, spec.keep_fields,
                                   copy))
    return files


def ensure_ray(cfg: PipelineConfig, address: Optional[str] = None) -> None:
    if ray.is_initialized():
        return
    address = address or cfg.ray.address or os.environ.get("RAY_ADDRESS")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        # A `ray job submit` driver already runs in the job's working directory (RAY_JOB_CONFIG_JSON_ENV_VAR).
        in_job = "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ
        runtime_env = None if in_job else {"working_dir": REPO_ROOT,
                                           "excludes": [".venv", ".git", "out", "benchmarks/out", "*.gguf"]}
        ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING)
    else:
        # Workers inherit the driver's environment: no job runtime_env, so the workers Ray starts with
        # the node are used at once instead of a second set started for the runtime env.
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if REPO_ROOT not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [REPO_ROOT, *paths] if p)
        ray.init(address="local", num_cpus=cfg.ray.num_cpus, include_dashboard=False,
                 logging_level=logging.WARNING)


def run_pipeline(cfg: PipelineConfig, raw: dict[str, Any], address: Optional[str] = None,
                 release: Any = None) -> dict[str, Any]:
    """Checks first (inputs, output, endpoint); then the output's lock, held from before any work until
    the release is committed and cleaned up; then the embedded server if wanted, then Ray.
    `release` (pipelines/refresh.py): the input files, a lock already held, ids to skip, and
    `finish(manifest, staging_uri)` that completes the manifest before the commit."""
    check_before_work(cfg, list_remote=True)
    files = list_inputs(cfg) if release is None else release.files  # a missing input is reported first
    held = contextlib.nullcontext(release.lock) if release is not None else None
    with held or OutputLock(cfg.output.uri, purpose="instructpipe run", ttl_s=cfg.output.lock_ttl_s) as lock:
        recover(cfg.output.uri)
        if any(map(local_llm.wanted, cfg.all_endpoints().values())):  # `base_url: local`: the embedded server
            with local_llm.managed_server(cfg.local_llm) as server:
                return _run(cfg, raw, files, lock, address, server, release)
        return _run(cfg, raw, files, lock, address, release=release)


def recover(output_uri: str) -> None:
    """Finish what an interrupted run left: garbage the live manifest does not list, a stale card."""
    try:
        manifest = publish.live_manifest(output_uri)
    except publish.ManifestError as err:
        log.warning("%s; leaving the output's files alone", err)
        return
    deleted = publish.collect_garbage(output_uri, manifest)
    if deleted:
        log.info("removed %d file(s) left by an interrupted run under %s", deleted, output_uri)
    if manifest is not None:
        write_card(output_uri, manifest)
        report.copy_to_root(output_uri, manifest)


def _run(cfg: PipelineConfig, raw: dict[str, Any], files: list[InputFile], lock: OutputLock,
         address: Optional[str] = None, server: Optional[local_llm.ManagedServer] = None,
         release: Any = None) -> dict[str, Any]:
    started = time.monotonic()
    chash = config_hash(redact_config(raw))
    fingerprint = content_fingerprint(files) if cfg.source is None else bootstrap.source_fingerprint(cfg)
    run_id = hashlib.sha256(f"{chash}\0{fingerprint}".encode()).hexdigest()[:16]
    settings = run_settings(cfg, server)
    preflight(cfg, settings)
    ensure_ray(cfg, address)
    data_context = ray.data.DataContext.get_current()
    data_context.execution_options.preserve_order = cfg.ray.preserve_order
    progress.ray_data_progress(data_context)
    staging = storage.join(cfg.output.uri, STAGING, run_id)
    try:
        manifest = _execute(cfg, raw, run_id, chash, files, staging, lock, settings, server, release)
    finally:
        if storage.exists(staging):
            storage.delete(staging)
    manifest["elapsed_s"] = round(time.monotonic() - started, 2)
    return manifest


def _execute(cfg: PipelineConfig, raw: dict[str, Any], run_id: str, chash: str, files: list[InputFile],
             staging: str, lock: OutputLock, settings: dict[str, Any],
             server: Optional[local_llm.ManagedServer], release: Any = None) -> dict[str, Any]:
    accountant = Accountant.remote()
    reporter = Reporter(accountant)
    stage_names = [cfg.source.method if cfg.source else READ_STAGE] + [s.name for s in cfg.stages]
    sink = ShardSink(staging, cfg.output.formats, cfg.output.shard_rows, stage_names[1:], cfg.output.extra_columns,
                     typed_columns(cfg))
    budget = cfg.endpoint.model_dump(include={"max_cost_usd", "max_requests"}) if cfg.endpoint else {}
    if cfg.output.report and not (cfg.lang or "").startswith("zh"):
        report.preload_parser()  # loads while the plan runs; the page is built after it
    monitor = progress.Monitor(reporter, stage_names, run_id, budget)
    with monitor:  # from the first read: a global stage (dedup) runs the plan before it while being added
        ds, source_report, global_ops = _plan(cfg, files, run_id, settings, reporter, release)
        try:
            ds.write_datasink(sink)
        except Exception:
            original = reporter.first_failure()  # the operator's own error, not Ray's UserCodeException
            if original is None:
                raise
            raise original from None

    totals = reporter.totals()
    ray.kill(accountant)
    skipped = pop_skipped(totals)
    for stage in cfg.stages:
        merge_global_counts(totals, stage.name)
    shards, rejects, written, rejects_per_stage = collect(sink.results, cfg.output.formats)
    stages = verify(stage_names, totals, written, rejects_per_stage)
    check_outcome(stages, staging, rejects, cfg.endpoint, cfg.output.uri, from_read=cfg.source is None)
    if server is not None:
        server.ensure_alive()

    exports = [export_alpaca_json(staging, shards, cfg.output.alpaca_json)] if cfg.output.alpaca_json else []
    if cfg.output.self_instruct_json:
        exports.append(export_self_instruct_json(staging, shards, cfg.output.self_instruct_json))
    exports += [export_feedback(staging, shards, spec) for spec in cfg.output.exports]
    artifacts_uri = storage.join(cfg.output.uri, "_artifacts", f"{run_id}-{lock.token[:8]}")
    artifacts = [{**a, "path": f"_artifacts/{run_id}-{lock.token[:8]}/{a['path']}"} for op in global_ops
                 if hasattr(op, "write_artifacts") for a in op.write_artifacts(artifacts_uri)]
    manifest = build_manifest(cfg, raw, run_id, chash, files, stages, shards, rejects, exports)
    if artifacts:
        manifest["artifacts"] = artifacts
    usage, by_endpoint = llm_usage(sink.results)
    if usage:
        manifest["llm"] = usage
    if by_endpoint and cfg.endpoints:
        manifest["llm_endpoints"] = by_endpoint
    if source_report is not None:
        manifest["source"] = source_report
    if typed_columns(cfg):  # scores per source, pairwise statistics per judge
        manifest["feedback"] = summarise_rows(iter_rows(staging, shards, FEEDBACK_FIELDS))
    if server is not None:
        manifest["local_llm"] = local_llm.describe(server, cfg.local_llm)
    if monitor.timeline():
        manifest["timeline"] = monitor.timeline()
    if release is not None:
        release.finish(manifest, staging, skipped)
    if cfg.output.report:
        manifest["report"] = report.stage_report(cfg.output.uri, staging, manifest)
    lock.check()
    publish.move_into_place(cfg.output.uri, staging, shards + rejects + exports + report.listed(manifest))
    publish.commit(cfg.output.uri, manifest)
    write_card(cfg.output.uri, manifest)
    report.copy_to_root(cfg.output.uri, manifest)
    publish.collect_garbage(cfg.output.uri, manifest)
    return manifest


def _plan(cfg: PipelineConfig, files: list[InputFile], run_id: str, settings: dict[str, Any],
          reporter: Reporter, release: Any = None) -> tuple[ray.data.Dataset, Optional[dict[str, Any]], list]:
    source_report = None
    if cfg.source is not None:  # a bootstrapping source generates the rows, on the driver
        ds, source_report = bootstrap.source_dataset(cfg, settings, run_id, reporter)
    else:  # a refresh skips the rows whose id an earlier release settled (counted as skipped_seen)
        skip = ray.put(release.skip_ids) if release is not None and release.skip_ids is not None else None

        def read(rep: Reporter) -> ray.data.Dataset:
            return ray.data.read_datasource(InstructionDatasource(files, cfg.ray.batch_rows, rep.table,
                                                                  skip=skip, on_skip=rep.table))
        ds = read(reporter)
    # LLM stages in a batch mode: their batches first, so the stage answers from the cache (docs/batch.md)
    batch_driver.run_phases(cfg, settings, run_id, lambda rep: ds if cfg.source is not None else read(rep))
    global_ops: list = []
    for stage in cfg.stages:
        context = StageContext(stage=stage.name, run_id=run_id, settings=settings)
        ds = apply_stage(ds, get_operator(stage.op), stage.config, context, reporter, cfg.ray.batch_rows,
                         global_ops)
    return ds, source_report, global_ops


def typed_columns(cfg: PipelineConfig) -> list[str]:
    """The typed columns (candidates, comparisons) the config's stages make, in schema order."""
    made = {c for s in cfg.stages for c in get_operator(s.op).output_columns}
    return [name for name in TYPED_COLUMNS if name in made]


def write_card(output_uri: str, manifest: dict[str, Any]) -> None:
    """README.md describes the committed release (rewritten by the next run if a kill left it stale)."""
    uri = storage.join(output_uri, "README.md")
    card = dataset_card(manifest).encode("utf-8")
    if not storage.exists(uri) or storage.read_bytes(uri) != card:
        storage.write_bytes(uri, card)


def preflight(cfg: PipelineConfig, settings: dict[str, Any]) -> None:
    """Checks operators can make before any work (a missing API key, an unreachable endpoint)."""
    steps = [(s.op, s.config) for s in cfg.stages] + ([(cfg.source.method, cfg.source.config)] if cfg.source else [])
    for op, config in steps:
        check = getattr(get_operator(op), "preflight", None)
        if check is not None:
            check(settings, config)


def run_settings(cfg: PipelineConfig, server: Optional[local_llm.ManagedServer] = None) -> dict[str, Any]:
    """Run-wide sections that operators may read (endpoints name their key's variable, not the key)."""
    def section(endpoint):
        if server is not None and local_llm.wanted(endpoint):
            return local_llm.endpoint_settings(endpoint.model_dump(), server, cfg.local_llm)
        return endpoint.model_dump()
    return {"endpoint": section(cfg.endpoint) if cfg.endpoint else None,
            "endpoints": {name: section(e) for name, e in cfg.endpoints.items()},
            "output_uri": cfg.output.uri, "lang": cfg.lang}


def build_manifest(cfg: PipelineConfig, raw: dict[str, Any], run_id: str, chash: str,
                   files: list[InputFile], stages: list[dict[str, Any]], shards: list, rejects: list,
                   exports: list) -> dict[str, Any]:
    import pyarrow
    read = stages[0]
    return {
        "format_version": 1,
        "name": cfg.name,
        "run_id": run_id,
        "config_hash": chash,
        "versions": {"instructpipe": VERSION, "ray": ray.__version__, "pyarrow": pyarrow.__version__,
                     "python": platform.python_version()},
        "counts": {"input": read["in"], "output": stages[-1]["out"],
                   "rejected": sum(s["rejected"] for s in stages)},
        "stages": stages,
        "shards": shards,
        "rejects": rejects,
        "exports": exports,
        "schema": {**{f.name: str(f.type) for f in RECORD_SCHEMA},
                   **{name: str(TYPED_COLUMNS[name]) for name in typed_columns(cfg)}},
        "inputs": [{"uri": f.uri, "bytes": f.size, "format": f.format, "lang": f.lang or AUTO} for f in files],
        "config": redact_config(raw),
    }
