"""The operator contract and the one way rows are rejected.

An operator is a class with a frozen pydantic `Config` (unknown keys forbidden), the columns it reads
and writes, and `__call__(pyarrow.Table) -> pyarrow.Table`. It receives only live rows and returns
every one of them, each either kept or marked rejected through `decide` (a `reason`, optionally a
JSON `detail`). `run_operator` is the framework side: it strips rows rejected earlier, checks that
every live row came back exactly once, stamps `stage` on new rejects and counts in/out/rejected.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from operators.schema import DETAIL, REASON, STAGE


class OperatorConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class StageContext:
    """What the runner tells an operator about its place in the run (never secrets)."""

    stage: str
    run_id: str = ""
    settings: dict[str, Any] = field(default_factory=dict)


class ContractError(RuntimeError):
    """An operator broke the contract (lost, duplicated or invented rows, missing columns)."""


class Operator:
    name: ClassVar[str]
    Config: ClassVar[type[OperatorConfig]] = OperatorConfig
    input_columns: ClassVar[tuple[str, ...]] = ()
    output_columns: ClassVar[tuple[str, ...]] = ()
    # "task": stateless, Ray tasks; "actor": state worth keeping (clients, models), an actor pool;
    # "global": needs the whole dataset (apply(ds) instead of __call__), e.g. deduplication.
    # "source": produces rows in rounds instead of reading them (operators/bootstrap/source.py).
    kind: ClassVar[str] = "task"

    def __init__(self, config: OperatorConfig | None = None, context: StageContext | None = None):
        self.config = config if config is not None else self.Config()
        self.context = context or StageContext(stage=self.name)

    @property
    def stage(self) -> str:
        return self.context.stage

    def __call__(self, batch: pa.Table) -> pa.Table:
        raise NotImplementedError

    @staticmethod
    def decide(batch: pa.Table, reasons: Sequence[str | None],
               details: Sequence[dict[str, Any] | None] | None = None) -> pa.Table:
        """Mark rows: a non-None reason rejects the row, None keeps it."""
        if len(reasons) != batch.num_rows:
            raise ContractError(f"{len(reasons)} reasons for {batch.num_rows} rows")
        detail_texts = [None] * batch.num_rows if details is None else [
            json.dumps(d, ensure_ascii=False, sort_keys=True) if d else None for d in details
        ]
        batch = _drop(batch, (REASON, DETAIL))
        batch = batch.append_column(REASON, pa.array(list(reasons), pa.string()))
        return batch.append_column(DETAIL, pa.array(detail_texts, pa.string()))


@dataclass
class StageCount:
    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)

    def add(self, other: "StageCount") -> None:
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.rejected += other.rejected
        self.reasons.update(other.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"in": self.rows_in, "out": self.rows_out, "rejected": self.rejected,
                "reasons": dict(sorted(self.reasons.items()))}


def _drop(table: pa.Table, names: Iterable[str]) -> pa.Table:
    present = [n for n in names if n in table.column_names]
    return table.drop_columns(present) if present else table


def rejected_mask(table: pa.Table) -> pa.Array:
    if REASON not in table.column_names:
        return pa.array([False] * table.num_rows, pa.bool_())
    return pc.is_valid(table.column(REASON)).combine_chunks()


def split_live(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(live rows without reject columns, rows rejected by an earlier stage)."""
    mask = rejected_mask(table)
    live = _drop(table.filter(pc.invert(mask)), (STAGE, REASON, DETAIL))
    return live, table.filter(mask)


def count_stage(table: pa.Table, stage: str, rows_in: int) -> StageCount:
    """Count what `stage` did, given its output rows (live + its new rejects) and rows in."""
    mask = rejected_mask(table)
    mine = table.filter(mask)
    if STAGE in mine.column_names:
        mine = mine.filter(pc.equal(mine.column(STAGE), stage))
    reasons = Counter(mine.column(REASON).to_pylist()) if mine.num_rows else Counter()
    kept = table.num_rows - pc.sum(mask.cast(pa.int64())).as_py() if table.num_rows else 0
    return StageCount(rows_in, int(kept or 0), mine.num_rows, reasons)


def run_operator(op: Operator, batch: pa.Table) -> tuple[pa.Table, StageCount]:
    """Apply `op` to the live rows of `batch`; earlier rejects pass through untouched."""
    live, earlier = split_live(batch)
    missing = [c for c in op.input_columns if c not in live.column_names]
    if missing and live.num_rows:
        raise ContractError(f"stage {op.stage!r} needs columns {missing}")
    result = op(live) if live.num_rows else _empty_result(op, live)
    _check_exactly_once(op.stage, live, result)
    if REASON not in result.column_names:
        result = Operator.decide(result, [None] * result.num_rows)
    stage_values = pc.if_else(pc.is_valid(result.column(REASON)), op.stage, pa.scalar(None, pa.string()))
    result = _drop(result, (STAGE,)).append_column(STAGE, stage_values)
    count = count_stage(result, op.stage, live.num_rows)
    if earlier.num_rows:
        result = pa.concat_tables([result, earlier], promote_options="permissive")
    return result, count


def _empty_result(op: Operator, live: pa.Table) -> pa.Table:
    for name in op.output_columns:
        if name not in live.column_names:
            live = live.append_column(name, pa.array([], pa.string()))
    return live


def _check_exactly_once(stage: str, before: pa.Table, after: pa.Table) -> None:
    if after.num_rows != before.num_rows:
        raise ContractError(f"stage {stage!r} returned {after.num_rows} rows for {before.num_rows}")
    if "source" in before.column_names and before.num_rows:
        if "source" not in after.column_names:
            raise ContractError(f"stage {stage!r} dropped the source column")
        sources_before, sources_after = before.column("source"), after.column("source")
        if sources_before.equals(sources_after):  # same rows in the same order: the common case, in C
            return
        if Counter(sources_before.to_pylist()) != Counter(sources_after.to_pylist()):
            raise ContractError(f"stage {stage!r} lost, duplicated or invented rows")
