"""Per-stage counts of rows in, out and rejected, collected from every worker, and the balance check.

Workers report each batch under a key derived from the batch's rows, so a batch that Ray retries
(a failed task, a killed actor) is counted once, not twice.
"""
from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from typing import Any, Optional

import pyarrow as pa
import ray

from operators.base import StageCount, count_stage
from pipelines.errors import AccountingError


@ray.remote(num_cpus=0)
class Accountant:
    def __init__(self) -> None:
        self.reports: dict[tuple[str, str], dict[str, Any]] = {}
        self.failure: Optional[BaseException] = None

    def report(self, stage: str, key: str, count: dict[str, Any]) -> None:
        self.reports[(stage, key)] = count

    def fail(self, error: BaseException) -> None:
        """The first exception an operator raised (Ray Data hands the driver only its own wrapper)."""
        if self.failure is None:
            self.failure = error

    def first_failure(self) -> Optional[BaseException]:
        return self.failure

    def totals(self) -> dict[str, dict[str, Any]]:
        out: dict[str, StageCount] = {}
        for (stage, _), c in self.reports.items():
            out.setdefault(stage, StageCount()).add(
                StageCount(c["in"], c["out"], c["rejected"], Counter(c["reasons"])))
        return {stage: count.to_dict() for stage, count in out.items()}


def batch_key(table: pa.Table) -> str:
    """Stable key of a batch: its rows' sources and ids."""
    digest = hashlib.blake2b(digest_size=16)
    for name in ("source", "id"):
        if name in table.column_names:
            for value in table.column(name).to_pylist():
                digest.update((value or "").encode("utf-8", "surrogatepass") + b"\0")
    digest.update(str(table.num_rows).encode())
    return digest.hexdigest()


class Reporter:
    """Serialisable handle that workers use to send counts to the run's accountant."""

    def __init__(self, accountant: "ray.actor.ActorHandle") -> None:
        self.accountant = accountant

    def count(self, stage: str, key: str, count: StageCount) -> None:
        ray.get(self.accountant.report.remote(stage, key, count.to_dict()))

    def table(self, stage: str, key: str, table: pa.Table) -> None:
        """Count a table whose rows entered `stage` all together (used for reads)."""
        self.count(stage, key, count_stage(table, stage, table.num_rows))

    def totals(self) -> dict[str, dict[str, Any]]:
        return ray.get(self.accountant.totals.remote())

    @contextlib.contextmanager
    def recording_failure(self):
        """Re-raises whatever the block raises, after telling the accountant about it."""
        try:
            yield
        except Exception as err:
            self.fail(err)
            raise

    def fail(self, error: BaseException) -> None:
        try:
            ray.get(self.accountant.fail.remote(error))
        except Exception:  # not picklable: the driver falls back to Ray's wrapper
            pass

    def first_failure(self) -> Optional[BaseException]:
        return ray.get(self.accountant.first_failure.remote())


def verify(stage_names: list[str], totals: dict[str, dict[str, Any]], written_out: int,
           written_rejects: Counter) -> list[dict[str, Any]]:
    """Check in = out + rejected per stage, the chain between stages and what the sink wrote."""
    stages, problems, previous_out = [], [], None
    for name in stage_names:
        c = totals.get(name, {"in": 0, "out": 0, "rejected": 0, "reasons": {}})
        if c["in"] != c["out"] + c["rejected"]:
            problems.append(f"stage {name}: in {c['in']} != out {c['out']} + rejected {c['rejected']}")
        if previous_out is not None and c["in"] != previous_out:
            problems.append(f"stage {name}: in {c['in']} but the stage before put out {previous_out}")
        if sum(c["reasons"].values()) != c["rejected"]:
            problems.append(f"stage {name}: reasons add up to {sum(c['reasons'].values())}, not {c['rejected']}")
        if written_rejects.get(name, 0) != c["rejected"]:
            problems.append(f"stage {name}: rejected {c['rejected']} but {written_rejects.get(name, 0)} "
                            f"reject rows were written")
        stages.append({"name": name, **c})
        previous_out = c["out"]
    if previous_out is not None and previous_out != written_out:
        problems.append(f"last stage put out {previous_out} rows but {written_out} were written")
    unknown = set(written_rejects) - set(stage_names)
    if unknown:
        problems.append(f"reject rows name unknown stages {sorted(unknown)}")
    if problems:
        raise AccountingError("accounting does not balance: " + "; ".join(problems))
    return stages
