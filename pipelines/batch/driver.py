"""The runner's entry: a batch phase before each LLM stage whose endpoint is in a batch mode."""
from __future__ import annotations

from typing import Any, Callable, Optional

import ray

from operators.base import StageContext
from operators.llm.batch_view import write_view
from operators.llm.endpoint import ConfigurationError, endpoint_label
from operators.llm.operator import LLMOperator
from operators.registry import get_operator
from pipelines.accounting import Accountant, Reporter
from pipelines.batch.offline import run_file
from pipelines.batch.phase import StagePhase
from pipelines.stages import apply_stage


def batch_stages(cfg, settings: dict[str, Any], run_id: str) -> list[tuple[int, LLMOperator, Optional[str]]]:
    """(index, operator built on the driver, endpoint name) of every stage whose endpoint is in a batch mode."""
    found = []
    for index, stage in enumerate(cfg.stages):
        op_class = get_operator(stage.op)
        if not (isinstance(op_class, type) and issubclass(op_class, LLMOperator)):
            continue
        op = op_class(stage.config, StageContext(stage=stage.name, run_id=run_id,
                                                 settings={**settings, "llm_service": False}))
        batched = [name for name, e in op.endpoints.items() if e.mode != "sync"]
        if batched and len(op.endpoints) > 1:
            raise ConfigurationError(f"stage {stage.name}: batch modes need a stage that talks to one endpoint; it uses "
                                     f"{', '.join(endpoint_label(n) for n in op.endpoints)}: set "
                                     f"{endpoint_label(batched[0])}.mode=sync")
        if batched:
            found.append((index, op, batched[0]))
    return found


def run_phases(cfg, settings: dict[str, Any], run_id: str, source: Callable[[Reporter], Any]) -> None:
    """Phase by phase (a later stage's requests depend on the earlier stages' answers)."""
    views: dict[str, tuple[list, dict]] = {}
    for index, op, name in batch_stages(cfg, settings, run_id):
        phase = StagePhase(op, run_id, settings.get("output_uri"), name)
        accountant = Accountant.remote()  # the scan's counts are not the run's
        try:
            ds = prefix(cfg, settings, run_id, source(Reporter(accountant)), Reporter(accountant), index)
            if phase.cfg.mode == "batch":
                phase.run_batch(ds)
            else:
                run_file(phase, ds)
        finally:
            ray.kill(accountant)
        bought, decided = views.setdefault(phase.cache_uri, ([], {}))
        bought.extend(phase.bought)
        decided.update(phase.decided)
        write_view(phase.cache_uri, run_id, bought, decided)


def prefix(cfg, settings: dict[str, Any], run_id: str, ds, reporter: Reporter, upto: int):
    """The plan up to (not including) stage `upto`."""
    for stage in cfg.stages[:upto]:
        context = StageContext(stage=stage.name, run_id=run_id, settings=settings)
        ds = apply_stage(ds, get_operator(stage.op), stage.config, context, reporter, cfg.ray.batch_rows, [])
    return ds
