"""Small helpers for pipeline integration tests."""
from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
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


def check_balance(manifest: dict[str, Any], rows_in: int, out: Path | None = None) -> None:
    """Every one of the `rows_in` rows the test fed in is in exactly one place: counted from the
    published files when `out` is given (shards + rejects, and each reject's stage and reason against
    the manifest's per-stage reasons), not by re-adding the manifest's own figures."""
    counts = manifest["counts"]
    assert counts["input"] == rows_in == manifest["stages"][0]["in"], (counts, rows_in)
    assert counts["output"] + counts["rejected"] == rows_in, counts
    if out is None:
        return
    rows, rejects = published_rows(out), published_rows(out, "rejects")
    assert (len(rows), len(rejects)) == (counts["output"], counts["rejected"])
    found = Counter((r["stage"], r["reason"]) for r in rejects)
    listed = Counter({(s["name"], reason): n for s in manifest["stages"] for reason, n in s["reasons"].items()})
    assert found == listed, (found, listed)
