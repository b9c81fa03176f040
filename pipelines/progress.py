"""Live progress of a run, read from what the run already counts: the `Accountant` actor's per-stage
totals (the same counts the balance check uses) and the LLM limiter actors' requests, tokens and spend.

On a terminal (stderr) a rich table redraws in place; otherwise one compact line per stage every
`interval_s` seconds (CI, `ray job submit` logs). Ray Data's own progress bars are off unless asked for.
The samples are kept (at most `MAX_POINTS`) as the release's throughput timeline.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from pipelines.stages import merge_global_counts

SAMPLE_S = 1.0
MAX_POINTS = 120


@dataclass
class Settings:
    mode: str = "auto"  # auto | live | lines | off
    interval_s: float = 10.0  # between compact lines
    ray_progress: bool = False


SETTINGS = Settings()


def configure(mode: str = "auto", interval_s: float = 10.0, ray_progress: bool = False) -> None:
    """Set by the CLI before a run."""
    global SETTINGS
    SETTINGS = Settings(mode, interval_s, ray_progress)


def ray_data_progress(context) -> None:
    context.enable_progress_bars = SETTINGS.ray_progress
    context.enable_operator_progress_bars = SETTINGS.ray_progress


def stage_totals(raw: dict[str, dict[str, Any]], stage_names: list[str]) -> list[dict[str, Any]]:
    totals = {k: dict(v) for k, v in raw.items()}
    for name in stage_names:
        merge_global_counts(totals, name)
    empty = {"in": 0, "out": 0, "rejected": 0, "reasons": {}}
    return [{"name": n, **totals.get(n, empty)} for n in stage_names]


def limiter_totals(run_id: str) -> dict[str, Any]:
    """Requests (and of them in flight), tokens and USD spent so far, summed over this run's limiter actors."""
    import ray
    out = {"requests": 0, "in_flight": 0, "tokens": 0, "spent_usd": 0.0}
    if not ray.is_initialized():
        return out
    try:
        job = ray.get_runtime_context().get_job_id()
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                 if a.get("namespace") == "instructpipe" and a["name"].startswith(f"llm-limiter-{job}-{run_id}-")]
        for name in names:
            t = ray.get(ray.get_actor(name, namespace="instructpipe").totals.remote(), timeout=5)
            for key in out:
                out[key] += t.get(key, 0)
    except Exception:  # an actor that just exited: the next sample counts it again
        pass
    return out


class Monitor:
    """Samples the counts on a daemon thread while the plan runs; `with Monitor(...):`."""

    def __init__(self, reporter, stage_names: list[str], run_id: str, budget: Optional[dict[str, Any]] = None,
                 settings: Optional[Settings] = None, stream=None):
        self.reporter, self.stage_names, self.run_id = reporter, stage_names, run_id
        self.budget = budget or {}
        self.settings = settings or SETTINGS
        self.stream = stream or sys.stderr
        mode = self.settings.mode
        if mode == "auto":
            mode = "live" if getattr(self.stream, "isatty", lambda: False)() else "lines"
        self.mode = mode
        self.points: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._live = None
        self.last: Optional[dict[str, Any]] = None

    def __enter__(self) -> "Monitor":
        if self.mode == "off":
            return self
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live
            self._live = Live(console=Console(file=self.stream), refresh_per_second=4, transient=False)
            self._live.start()
        self._thread = threading.Thread(target=self._loop, name="instructpipe-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self._show(self.sample(), final=True)
        if self._live is not None:
            self._live.stop()

    def _loop(self) -> None:
        last_line = time.monotonic()
        while not self._stop.wait(SAMPLE_S):
            snap = self.sample()
            if snap is None:
                continue
            if self.mode == "live":
                self._show(snap)
            elif time.monotonic() - last_line >= self.settings.interval_s:
                last_line = time.monotonic()
                self._show(snap)

    def sample(self) -> Optional[dict[str, Any]]:
        try:
            stages = stage_totals(self.reporter.totals(), self.stage_names)
        except Exception:  # the accountant is gone (the run is ending)
            return self.last
        t = round(time.monotonic() - self.started, 2)
        snap = {"t": t, "stages": stages, "llm": limiter_totals(self.run_id)}
        snap["rates"] = self._rates(snap)
        snap["eta"] = eta(snap["stages"], snap["rates"])
        self.last = snap
        self.points.append({"t": t, "rows": {s["name"]: s["in"] for s in stages}})
        if len(self.points) > 2 * MAX_POINTS:
            self.points = self.points[::2]
        return snap

    def _rates(self, snap: dict[str, Any]) -> dict[str, float]:
        """Rows per second into each stage over the last ~10 s of samples."""
        if not self.points:
            return {s["name"]: s["in"] / snap["t"] if snap["t"] else 0.0 for s in snap["stages"]}
        base = next((p for p in self.points if snap["t"] - p["t"] <= 10), self.points[0])
        dt = snap["t"] - base["t"]
        return {s["name"]: (s["in"] - base["rows"].get(s["name"], 0)) / dt if dt > 0 else 0.0 for s in snap["stages"]}

    def timeline(self) -> Optional[dict[str, Any]]:
        points = self.points[:: max(1, len(self.points) // MAX_POINTS)]
        return {"sample_s": SAMPLE_S, "points": points} if len(points) >= 2 else None

    def _show(self, snap: Optional[dict[str, Any]], final: bool = False) -> None:
        if snap is None:
            return
        if self._live is not None:
            from pipelines.progress_view import live_table
            self._live.update(live_table(snap, self.budget), refresh=True)
        elif self.mode == "lines":
            from pipelines.progress_view import compact_lines
            print("\n".join(compact_lines(snap, self.budget, final)), file=self.stream, flush=True)


def eta(stages: list[dict[str, Any]], rates: dict[str, float]) -> dict[str, Any]:
    """The stage with the most work left per unit of speed bounds the run: rows read so far that it
    has not yet taken in, over its current rate (rows still unread cannot be counted in advance)."""
    if not stages:
        return {"stage": None, "seconds": None}
    alive = stages[0]["out"]  # rows read and not rejected before the stage
    worst: dict[str, Any] = {"stage": None, "seconds": 0.0}
    for s in stages[1:]:
        left = max(0, alive - s["in"])
        rate = rates.get(s["name"], 0.0)
        seconds = left / rate if rate > 0 else (None if left else 0.0)
        if worst["seconds"] is not None and (seconds is None or seconds > worst["seconds"]):
            worst = {"stage": s["name"], "seconds": seconds}
        alive -= s["rejected"]
    return worst
