"""Small helpers for pipeline integration tests."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from pipelines.config import validate
from pipelines.runner import run_pipeline


def run(raw: dict[str, Any]) -> dict[str, Any]:
    return run_pipeline(validate(raw, "<test>"), raw)


def read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def published_rows(out: Path, kind: str = "shards") -> list[dict[str, Any]]:
    manifest = json.loads((out / "_manifest.json").read_text())
    rows = []
    for f in manifest[kind]:
        if f.get("format", "jsonl") == "jsonl":
            rows.extend(read_jsonl_gz(out / f["path"]))
    return rows


def check_manifest_files(out: Path, manifest: dict[str, Any]) -> None:
    for f in manifest["shards"] + manifest["rejects"] + manifest.get("exports", []):
        data = (out / f["path"]).read_bytes()
        assert len(data) == f["bytes"] and hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]


def check_balance(manifest: dict[str, Any]) -> None:
    previous = None
    for stage in manifest["stages"]:
        assert stage["in"] == stage["out"] + stage["rejected"], stage
        assert sum(stage["reasons"].values()) == stage["rejected"], stage
        if previous is not None:
            assert stage["in"] == previous, stage
        previous = stage["out"]
    counts = manifest["counts"]
    assert counts["input"] == counts["output"] + counts["rejected"]
