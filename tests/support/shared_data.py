"""Paths to the shared real data (../shared/data beside the repo root) and small readers for it."""
from __future__ import annotations

import gzip
import json
from itertools import islice
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
ALPACA_PARALLEL = SHARED / "alpaca_parallel_en_zh_52k.jsonl.gz"
SELF_INSTRUCT_SEEDS = SHARED / "self-instruct" / "seed_tasks.jsonl"
BELLE_ZH_SEEDS = SHARED / "belle" / "zh_seed_tasks.jsonl"


def alpaca_instructions(limit: int | None = None, field: str = "en_instruction") -> list[str]:
    """Stanford Alpaca's instructions in their file (arrival) order."""
    with gzip.open(ALPACA_PARALLEL, "rt", encoding="utf-8") as handle:
        return [json.loads(line)[field] for line in islice(handle, limit)]


def seed_tasks(path: Path = SELF_INSTRUCT_SEEDS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
