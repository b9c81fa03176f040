"""Helpers shared by benchmarks: data paths, CPU time and peak memory of a process tree."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "benchmarks" / "out"
PARALLEL = DATA / "alpaca_parallel_en_zh_52k.jsonl.gz"


def figures_line(figures: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in figures.items())


class TreeUsage:
    """CPU seconds and peak RSS of process `pid` and all its descendants, sampled until exit.

    The last CPU time seen of every process is kept, so processes that end early still count.
    """

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        rss = 0
        for proc in procs:
            try:
                times = proc.cpu_times()
                self._cpu[proc.pid] = times.user + times.system
                rss += proc.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        self.peak = max(self.peak, rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def __enter__(self) -> "TreeUsage":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_s(self) -> float:
        return sum(self._cpu.values())

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)
