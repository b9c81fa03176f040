"""`refresh --dry-run`: how many rows are new, how many answers are cached, what the rest would cost.

Nothing is written and no model is called. The new rows are read on the driver and run through the
stages before the first LLM stage (row stages only: a whole-dataset stage such as dedup is not
simulated, it can only remove rows); the first LLM stage's requests are built with its own
`format_input` and looked up in the shared response cache. Later LLM stages depend on answers not yet
bought and are listed, not estimated. The cost is an upper bound: the prompt's token estimate plus
`max_tokens` for every request to send, at the endpoint's price.
"""
from __future__ import annotations

import json
from typing import Any, Optional

import pyarrow as pa

from operators.base import StageContext, run_operator, split_live
from operators.llm.cache import cache_key
from operators.llm.operator import LLMOperator, table_rows
from operators.llm.prompts import estimate_tokens
from operators.registry import get_operator
from pipelines import local_llm
from pipelines.config import PipelineConfig
from pipelines.io.readers import InputFile, drop_seen, read_file


def dry_run(cfg: PipelineConfig, raw: dict[str, Any], path: str, root: str, prepared, as_json: bool) -> int:
    from pipelines.refresh import release_config
    history, todo, _, whole, seen = prepared
    version = history.version + 1
    rcfg, _ = release_config(raw, path, root, version, history)
    plan = {"root": root, "next_version": version, "latest_version": history.version or None,
            "files": len(todo) + len(whole), "files_skipped_whole": len(whole),
            "rows_in_skipped_files": sum(f["rows"] for f in whole), **build_plan(rcfg, todo, seen)}
    print(describe(plan))
    if as_json:
        print(json.dumps(plan))
    return 0


def build_plan(cfg: PipelineConfig, files: list[InputFile], seen: Optional[pa.Array]) -> dict[str, Any]:
    from pipelines.runner import run_settings
    settings = run_settings(cfg)
    if settings.get("endpoint"):
        settings["endpoint"] = {**settings["endpoint"], "limiter": "local"}  # no limiter actor, no Ray
    ops, llm, later, skipped_stages = [], None, [], []
    for stage in cfg.stages:
        op_class = get_operator(stage.op)
        if issubclass(op_class, LLMOperator):
            if llm is None:
                llm = (stage, op_class)
            else:
                later.append(stage.name)
        elif llm is not None:
            continue
        elif op_class.kind == "global":
            skipped_stages.append(stage.name)
        else:
            ops.append(op_class(stage.config, StageContext(stage.name, "dry-run", settings)))
    llm_op = None
    if llm is not None and not local_llm.wanted(cfg.endpoint):
        llm_op = llm[1](llm[0].config, StageContext(llm[0].name, "dry-run", settings))
    counts = {"rows_read": 0, "skipped_seen": 0, "new_rows": 0, "reach_llm": 0, "cached": 0, "requests": 0,
              "prompt_tokens": 0, "max_completion_tokens": 0}

    def skip(table: pa.Table) -> None:
        counts["skipped_seen"] += table.num_rows
    try:
        for f in files:
            for table in read_file(f, cfg.ray.batch_rows):
                counts["rows_read"] += table.num_rows
                table = drop_seen(table, seen, skip) if seen is not None else table
                counts["new_rows"] += table.num_rows
                for op in ops:
                    table, _ = run_operator(op, table)
                live, _ = split_live(table)
                counts["reach_llm"] += live.num_rows if llm else 0
                if llm_op is not None:
                    _requests(llm_op, live, counts)
                elif llm is not None:
                    counts["requests"] += live.num_rows
    finally:
        if llm_op is not None:
            llm_op.service.close()
    price = llm_op.endpoint.price() if llm_op is not None else None
    cost = price.cost(counts["prompt_tokens"], counts["max_completion_tokens"]) if price else None
    return {**counts, "llm_stage": llm[0].name if llm else None,
            "model": llm_op.endpoint.model if llm_op else ("local" if llm else None),
            "cost_usd_max": round(cost, 4) if cost is not None else (0.0 if llm and not llm_op else None),
            "not_simulated": skipped_stages, "later_llm_stages": later}


def _requests(op: LLMOperator, live: pa.Table, counts: dict[str, int]) -> None:
    for row in table_rows(live, op.row_fields):
        request = op.format_input(row)
        if request is None:
            continue
        if op.service.cache.get(cache_key(op.endpoint.model, request.messages, request.params)) is not None:
            counts["cached"] += 1
            continue
        counts["requests"] += 1
        counts["prompt_tokens"] += estimate_tokens(request.messages)
        counts["max_completion_tokens"] += int(request.params.get("max_tokens") or 0)


def describe(plan: dict[str, Any]) -> str:
    lines = [f"dry run: next release v={plan['next_version']} of {plan['root']} "
             f"(latest: {'v=%d' % plan['latest_version'] if plan['latest_version'] else 'none'}); "
             f"nothing is written, no model is called",
             f"input files: {plan['files']}, {plan['files_skipped_whole']} settled by earlier releases "
             f"(skipped unread, {plan['rows_in_skipped_files']} rows)",
             f"rows read: {plan['rows_read']}: {plan['skipped_seen']} processed by earlier releases, "
             f"{plan['new_rows']} new"]
    if plan["new_rows"] == 0:
        lines.append("nothing new: a refresh now would publish no release")
    if plan["llm_stage"]:
        cost = plan["cost_usd_max"]
        lines.append(f"stage {plan['llm_stage']} (model {plan['model']}): {plan['reach_llm']} rows reach it, "
                     f"{plan['cached']} answers cached, {plan['requests']} requests to send, estimated cost "
                     + (f"at most ${cost:.4f} (~{plan['prompt_tokens']} prompt tokens, at most "
                        f"{plan['max_completion_tokens']} completion tokens)" if cost is not None
                        else "unknown (no price for the model: endpoint.prices)"))
    if plan["not_simulated"]:
        lines.append(f"not simulated (whole-dataset stages, they only remove rows): {', '.join(plan['not_simulated'])}")
    if plan["later_llm_stages"]:
        lines.append(f"not estimated (their requests depend on answers not yet bought): "
                     f"{', '.join(plan['later_llm_stages'])}")
    lines.append(" ".join(f"{k}={plan[k]}" for k in ("new_rows", "skipped_seen", "cached", "requests", "cost_usd_max")))
    return "\n".join(lines)
