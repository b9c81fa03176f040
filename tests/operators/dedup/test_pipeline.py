"""The dedup stage through the runner: accounting balances and the exact duplicates are rejected."""
from __future__ import annotations

import json

import pytest

from tests.pipelines.helpers import check_balance, published_rows, run

pytestmark = pytest.mark.usefixtures("ray_session")


def test_runner_with_dedup_stage(data_dir, tmp_path):
    out = tmp_path / "out"
    manifest = run({
        "name": "dedup", "lang": "en",
        "inputs": [{"uri": str(data_dir / "gpt4-llm-samples/alpaca_gpt4_en_sample.json")}],
        "output": {"uri": str(out), "formats": ["jsonl"]},
        "stages": [{"normalize": {"form": "NFKC"}}, {"dedup": {"threshold": 0.7}}],
    })
    sample = json.loads((data_dir / "gpt4-llm-samples/alpaca_gpt4_en_sample.json").read_text(encoding="utf-8"))
    check_balance(manifest, len(sample), out)
    stage = next(s for s in manifest["stages"] if s["name"] == "dedup")
    assert stage["reasons"].get("exact_duplicate") == 14
    rejects = [r for r in published_rows(out, "rejects") if r.get("stage") == "dedup"]
    assert all("duplicate_of" in json.loads(r["detail"]) for r in rejects)
    assert len(published_rows(out)) == manifest["counts"]["output"]
