"""Scheduled refreshes: a release publishes its dedup index; the next batch is deduplicated against it."""
import json

import pytest

from tests.pipelines.helpers import check_balance, published_rows, run

pytestmark = pytest.mark.usefixtures("ray_session")


def config(src, out, against=()):
    return {"name": "refresh", "lang": "en", "inputs": [{"uri": str(src)}], "output": {"uri": str(out)},
            "stages": ["normalize", {"dedup": {"against": [str(a) for a in against]}}]}


def test_second_batch_is_deduplicated_against_the_first_release(tmp_path):
    first = [{"instruction": f"Give three facts about planet number {i}.", "output": str(i)} for i in range(40)]
    second = [{"instruction": first[3]["instruction"], "output": "again"},              # exact copy
              {"instruction": first[5]["instruction"].replace("three", "three  "), "output": "x"},
              {"instruction": "Write a haiku about autumn leaves.", "output": "new"}]
    (tmp_path / "b1.jsonl").write_text("\n".join(json.dumps(r) for r in first))
    (tmp_path / "b2.jsonl").write_text("\n".join(json.dumps(r) for r in second))
    release = run(config(tmp_path / "b1.jsonl", tmp_path / "r1"))
    (artifact,) = release["artifacts"]
    assert artifact["kind"] == "dedup_index" and artifact["stage"] == "dedup"
    assert artifact["path"].startswith("_artifacts/") and artifact["path"].endswith("/_dedup_index")
    assert (tmp_path / "r1" / artifact["path"]).is_dir()

    refresh = run(config(tmp_path / "b2.jsonl", tmp_path / "r2", against=[tmp_path / "r1"]))
    check_balance(refresh, len(second), tmp_path / "r2")
    kept = [r["instruction"] for r in published_rows(tmp_path / "r2")]
    assert kept == ["Write a haiku about autumn leaves."]
    rejects = published_rows(tmp_path / "r2", "rejects")
    assert {r["reason"] for r in rejects} <= {"exact_duplicate", "near_duplicate"} and len(rejects) == 2
