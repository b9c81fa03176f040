"""Batch mode with the output, the response cache and the batch ledger on S3 (moto's server on 127.0.0.1)."""
import gzip
import json

import boto3
import pytest

from operators import storage
from tests.pipelines.helpers import check_balance, run
from tests.pipelines.test_batch_mode import FAST, answers, config
from tests.support.llm_fixtures import endpoint_settings

pytestmark = pytest.mark.usefixtures("ray_session")


def s3_answers(uri: str) -> dict:
    manifest = json.loads(storage.read_bytes(f"{uri}/_manifest.json"))
    rows = [json.loads(line) for f in manifest["shards"] if f["format"] == "jsonl"
            for line in gzip.decompress(storage.read_bytes(f"{uri}/{f['path']}")).splitlines()]
    return {r["instruction"]: r["output"] for r in rows}


def test_batch_run_on_s3_publishes_what_a_sync_run_does(tmp_path, fake_openai, s3_server, s3_bucket):
    instructions = [f"Name a fruit number {i}." for i in range(12)] + ["Flaky [[fault:503x1]]"]
    run(config(tmp_path, instructions, endpoint_settings(fake_openai), out="sync"))
    fake_openai.reset_counts()
    out = f"s3://{s3_bucket}/release"
    cfg = config(tmp_path, instructions, endpoint_settings(fake_openai, mode="batch", cache_uri=None,
                                                           batch={**FAST, "max_requests_per_file": 8}))
    cfg["output"]["uri"] = out
    manifest = run(cfg)  # the cache defaults to <output>/_llm_cache, its ledger to <output>/_llm_cache_batches
    check_balance(manifest, len(instructions))
    assert fake_openai.total == 0 and len(fake_openai.batches.uploads) == 3  # 8 + 5, then the 503 line again
    assert s3_answers(out) == answers(tmp_path / "sync")
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_server).list_objects_v2(
        Bucket=s3_bucket, Prefix="release/_llm_cache")["Contents"]]
    cached = [k for k in keys if k.startswith("release/_llm_cache/") and k.endswith(".jsonl")]
    ledger = [k for k in keys if k.startswith("release/_llm_cache_batches/ledger/")]
    assert sum(len(storage.read_bytes(f"s3://{s3_bucket}/{k}").splitlines()) for k in cached) == len(instructions)
    records = [json.loads(storage.read_bytes(f"s3://{s3_bucket}/{k}")) for k in ledger]
    assert len(records) == 3 and all(r["collected"] and r["status"] == "completed" for r in records)
    assert f"release/_llm_cache_batches/runs/{manifest['run_id']}.json" in keys
    assert not [k for k in keys if "_llm_cache_batches/" in k and k.endswith(".jsonl")]  # request files: gone
