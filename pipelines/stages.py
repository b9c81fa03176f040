"""How an operator runs on Ray Data: tasks, an actor pool, or a whole-dataset stage.

This module and the runner are the only places that know Ray's knobs.
"""
from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import ray

from operators.base import Operator, StageContext, count_stage, rejected_mask, run_operator
from pipelines.accounting import Reporter, batch_key
from pipelines.engine import RayEngine

_OPERATORS: dict[tuple[str, str], Operator] = {}


def _cached_operator(op_class: type[Operator], config, context: StageContext) -> Operator:
    key = (context.run_id, context.stage)
    if key not in _OPERATORS:
        _OPERATORS[key] = op_class(config, context)
    return _OPERATORS[key]


class _TaskStage:
    """A plain function for Ray tasks; the operator is built once per worker process."""

    def __init__(self, op_class, config, context: StageContext, reporter: Reporter):
        self.args, self.reporter = (op_class, config, context), reporter

    def __call__(self, batch: pa.Table) -> pa.Table:
        op = _cached_operator(*self.args)
        with self.reporter.recording_failure():
            out, count = run_operator(op, batch)
        self.reporter.count(op.stage, batch_key(batch), count)
        return out


class _ActorStage:
    """An actor-pool member holding one operator (clients, models, caches) for its lifetime."""

    def __init__(self, op_class, config, context: StageContext, reporter: Reporter):
        self.reporter = reporter
        with reporter.recording_failure():
            self.op = op_class(config, context)

    def __call__(self, batch: pa.Table) -> pa.Table:
        with self.reporter.recording_failure():
            out, count = run_operator(self.op, batch)
        self.reporter.count(self.op.stage, batch_key(batch), count)
        return out


def _tap(stage: str, reporter: Reporter, phase: str):
    """Count rows around a global stage: live rows going in, then what came out."""
    def tap(batch: pa.Table) -> pa.Table:
        live = batch.num_rows - (pc.sum(rejected_mask(batch).cast(pa.int64())).as_py() or 0)
        if phase == "in":
            reporter.count(f"{stage}\0in", batch_key(batch), count_stage(batch.slice(0, 0), stage, live))
        else:
            reporter.count(f"{stage}\0out", batch_key(batch), count_stage(batch, stage, 0))
        return batch
    return tap


def apply_stage(ds: ray.data.Dataset, op_class: type[Operator], config, context: StageContext,
                reporter: Reporter, batch_rows: int, global_ops: list | None = None) -> ray.data.Dataset:
    """Add one stage to the plan; whole-dataset operators are also appended to `global_ops`."""
    kind = op_class.kind
    if kind == "global":
        op = op_class(config, context)
        if global_ops is not None:
            global_ops.append(op)
        ds = ds.map_batches(_tap(context.stage, reporter, "in"), batch_format="pyarrow", batch_size=None)
        ds = op.apply(ds, RayEngine())
        return ds.map_batches(_tap(context.stage, reporter, "out"), batch_format="pyarrow", batch_size=None)
    args = (op_class, config, context, reporter)
    if kind == "actor":
        options = actor_options(op_class, context.settings, config)
        return ds.map_batches(_ActorStage, fn_constructor_args=args, batch_format="pyarrow",
                              batch_size=options.pop("batch_size", batch_rows),
                              compute=_pool(options), **options)
    return ds.map_batches(_TaskStage(*args), batch_format="pyarrow", batch_size=batch_rows)


def _pool(options: dict[str, Any]) -> ray.data.ActorPoolStrategy:
    """Pop the pool's own settings; calls overlap inside an actor when the operator is thread-safe."""
    calls = options.pop("max_concurrent_calls_per_actor", None)
    return ray.data.ActorPoolStrategy(min_size=1, max_size=options.pop("num_actors", 1),
                                      max_concurrent_calls_per_actor=calls,
                                      enable_true_multi_threading=True if calls and calls > 1 else None)


def actor_options(op_class: type[Operator], settings: dict[str, Any], config: Any = None) -> dict[str, Any]:
    """Pool size and resources; API-bound actors take a fraction of a CPU (see ENVIRONMENT_NOTES)."""
    defaults = {"num_actors": 1, "num_cpus": 0.25}
    custom = getattr(op_class, "actor_options", None)
    return {**defaults, **(custom(settings, config) if custom else {})}


def merge_global_counts(totals: dict[str, dict[str, Any]], stage: str) -> None:
    """A global stage's count: live rows before it, and its output after it."""
    before, after = totals.pop(f"{stage}\0in", None), totals.pop(f"{stage}\0out", None)
    if before is None and after is None:
        return
    before = before or {"in": 0}
    after = after or {"out": 0, "rejected": 0, "reasons": {}}
    totals[stage] = {"in": before["in"], "out": after["out"], "rejected": after["rejected"],
                     "reasons": after["reasons"]}
