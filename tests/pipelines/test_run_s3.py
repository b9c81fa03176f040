"""Read from and publish to S3 (moto's server on 127.0.0.1), exactly as against real S3."""
import gzip
import json

import boto3
import pytest

from tests.pipelines.helpers import check_balance, run

pytestmark = pytest.mark.usefixtures("ray_session")


def test_s3_in_and_out(data_dir, s3_server, s3_bucket):
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.upload_file(str(data_dir / "gpt4-llm-samples/alpaca_gpt4_zh_sample.json"), s3_bucket, "in/zh.json")
    s3.upload_file(str(data_dir / "belle/zh_seed_tasks.jsonl"), s3_bucket, "in/seeds/zh_seed_tasks.jsonl")
    s3.put_object(Bucket=s3_bucket, Key="in/_ignored/x.jsonl", Body=b'{"instruction": "hidden"}\n')
    manifest = run({"name": "s3", "lang": "zh", "inputs": [{"uri": f"s3://{s3_bucket}/in/"}],
                    "output": {"uri": f"s3://{s3_bucket}/out/release", "shard_rows": 400,
                               "formats": ["jsonl", "parquet"]},
                    "stages": ["normalize"]})
    sample = json.loads((data_dir / "gpt4-llm-samples/alpaca_gpt4_zh_sample.json").read_text(encoding="utf-8"))
    seeds = (data_dir / "belle/zh_seed_tasks.jsonl").read_text(encoding="utf-8").splitlines()
    check_balance(manifest, len(sample) + sum(1 for line in seeds if line.strip()))
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="out/")["Contents"]}
    assert "out/release/_manifest.json" in keys and "out/release/README.md" in keys
    assert not any("_staging" in k for k in keys)
    stored = json.loads(s3.get_object(Bucket=s3_bucket, Key="out/release/_manifest.json")["Body"].read())
    assert stored["run_id"] == manifest["run_id"]
    rows = 0
    for shard in (s for s in stored["shards"] if s["format"] == "jsonl"):
        body = s3.get_object(Bucket=s3_bucket, Key=f"out/release/{shard['path']}")["Body"].read()
        rows += len(gzip.decompress(body).splitlines())
    assert rows == manifest["counts"]["output"] > 1000
    assert not any("hidden" in json.dumps(s) for s in stored["inputs"])
