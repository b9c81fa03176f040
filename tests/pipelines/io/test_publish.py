"""Garbage collection keeps exactly what the live manifest lists (relative output paths included)."""
import json
import os

import pytest

from pipelines.io import publish


def release(root, listed, unlisted):
    for rel in listed + unlisted:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    manifest = {"shards": [{"path": p} for p in listed if p.startswith("data/")],
                "rejects": [{"path": p} for p in listed if p.startswith("rejects/")],
                "exports": [{"path": p} for p in listed if p.startswith("exports/")],
                "artifacts": [{"path": p.rsplit("/", 1)[0]} for p in listed if p.startswith("_artifacts/")]}
    (root / "_manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_garbage_is_what_the_manifest_does_not_list(tmp_path, monkeypatch):
    listed = ["data/part-00000-0000-aaaa.jsonl.gz", "rejects/part-00000-0000-bbbb.jsonl.gz",
              "exports/cccc/alpaca.json", "_artifacts/r1-x/_dedup_index/part-0.parquet"]
    unlisted = ["data/part-00000-0000-dddd.jsonl.gz", "exports/eeee/alpaca.json",
                "_artifacts/r0-y/_dedup_index/part-0.parquet", "_staging/r2/data/p.jsonl.gz",
                "._manifest.json.tmp-123", "_dedup_index/part-0.parquet"]
    manifest = release(tmp_path / "out", listed, unlisted)
    (tmp_path / "out" / "_llm_cache").mkdir()
    monkeypatch.chdir(tmp_path)
    assert publish.collect_garbage("out", publish.live_manifest("out")) == len(unlisted)
    left = sorted(os.path.relpath(os.path.join(d, f), "out") for d, _, fs in os.walk("out") for f in fs)
    assert left == sorted(listed + ["_manifest.json"])
    assert (tmp_path / "out" / "_llm_cache").is_dir()
    assert publish.collect_garbage("out", manifest) == 0


def test_without_a_manifest_only_staging_goes(tmp_path):
    release(tmp_path / "out", [], ["data/part-1.jsonl.gz", "_staging/r/x"])
    (tmp_path / "out" / "_manifest.json").unlink()
    assert publish.collect_garbage(str(tmp_path / "out"), None) == 1
    assert (tmp_path / "out" / "data" / "part-1.jsonl.gz").exists()


def test_unreadable_manifest_is_named(tmp_path):
    (tmp_path / "_manifest.json").write_bytes(b"")
    with pytest.raises(publish.ManifestError, match="_manifest.json is not a readable manifest"):
        publish.read_manifest(str(tmp_path))
