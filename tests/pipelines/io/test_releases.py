"""Release bookkeeping without Ray: what a refresh refuses to build on, and what retention removes."""
import json

import pytest

from pipelines.io.releases import ReleaseError, apply_retention, load_history


def release(root, version, shards, extra_refs=(), releases=None):
    folder = root / f"releases/v={version}"
    for path in ("README.md", "rejects/part-r.jsonl.gz", "data/part-a.jsonl.gz", "_artifacts/x/seen_ids.parquet"):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(path)
    manifest = {"run_id": f"r{version}", "counts": {"output": 1}, "shards": [], "rejects": [],
                "release": {"version": version, "releases": releases or [version],
                            "seen": [f"releases/v={version}/_artifacts/x/seen_ids.parquet", *extra_refs]},
                "dataset": {"rows": len(shards), "shards": [{"path": p} for p in shards]}}
    (folder / "_manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_a_corrupted_pointer_or_a_stray_version_is_named(tmp_path):
    release(tmp_path, 1, ["releases/v=1/data/part-a.jsonl.gz"])
    (tmp_path / "latest.json").write_text('{"version": 1, "manif')
    with pytest.raises(ReleaseError, match="latest.json is corrupted"):
        load_history(str(tmp_path))
    (tmp_path / "latest.json").write_text('{"version": 1}')
    assert load_history(str(tmp_path)).version == 1
    (tmp_path / "releases/v=3").mkdir()
    with pytest.raises(ReleaseError, match=r"v=3 exists but .*points to v=1"):
        load_history(str(tmp_path))


def test_retention_keeps_what_a_kept_release_references(tmp_path):
    release(tmp_path, 1, ["releases/v=1/data/part-a.jsonl.gz"])
    newest = release(tmp_path, 2, ["releases/v=1/data/part-a.jsonl.gz", "releases/v=2/data/part-a.jsonl.gz"],
                     extra_refs=["releases/v=1/_artifacts/x/seen_ids.parquet"], releases=[2])
    assert apply_retention(str(tmp_path), newest) == [1]
    v1 = tmp_path / "releases/v=1"
    assert not (v1 / "_manifest.json").exists() and not (v1 / "README.md").exists()
    assert not (v1 / "rejects/part-r.jsonl.gz").exists()
    assert (v1 / "data/part-a.jsonl.gz").exists() and (v1 / "_artifacts/x/seen_ids.parquet").exists()
    assert apply_retention(str(tmp_path), newest) == []  # reported once

    newest["dataset"]["shards"] = [{"path": "releases/v=2/data/part-a.jsonl.gz"}]
    newest["release"]["seen"] = ["releases/v=2/_artifacts/x/seen_ids.parquet"]
    apply_retention(str(tmp_path), newest)
    assert not v1.exists() and (tmp_path / "releases/v=2/_manifest.json").exists()
