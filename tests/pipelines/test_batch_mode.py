"""endpoint.mode batch / batch_file through the real runner on a local Ray, against the fake server's Batch API."""
import json
from pathlib import Path

import pytest

from pipelines.errors import WaitingForBatchResults, describe
from tests.pipelines.helpers import check_balance, published_rows, run
from tests.support.llm_fixtures import endpoint_settings

pytestmark = pytest.mark.usefixtures("ray_session")
STAGE = "generate_response"
FAST = {"poll_s": 0.02, "poll_max_s": 0.1}


def config(tmp_path: Path, instructions: list[str], endpoint: dict, out: str = "out") -> dict:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"instruction": i, "input": "", "output": ""}) + "\n" for i in instructions))
    return {"name": "batch-test", "lang": "en", "inputs": [{"uri": str(src)}],
            "output": {"uri": str(tmp_path / out)}, "ray": {"batch_rows": 8}, "endpoint": endpoint,
            "stages": [{STAGE: {}}]}


def batch_endpoint(server, tmp_path: Path, **batch) -> dict:
    return endpoint_settings(server, mode="batch", cache_uri=str(tmp_path / "cache"), batch={**FAST, **batch})


def answers(out: Path) -> dict:
    return {r["instruction"]: r["output"] for r in published_rows(out)}


def test_batch_run_publishes_what_a_sync_run_does(tmp_path, fake_openai):
    instructions = [f"Name a colour number {i}." for i in range(30)] + ["Say no [[fault:400]]", "Flaky [[fault:503x1]]"]
    sync = run(config(tmp_path, instructions, endpoint_settings(fake_openai), out="sync"))
    fake_openai.reset_counts()
    cfg = config(tmp_path, instructions, batch_endpoint(fake_openai, tmp_path, max_requests_per_file=12), out="batch")
    manifest = run(cfg)
    check_balance(manifest, len(instructions), tmp_path / "batch")
    assert fake_openai.total == 0  # nothing went through chat completions
    assert answers(tmp_path / "batch") == answers(tmp_path / "sync")
    assert [s["reasons"] for s in manifest["stages"]] == [s["reasons"] for s in sync["stages"]]
    api = fake_openai.batches
    assert len(api.uploads) == 4  # 32 requests in files of 12, then the one retried line
    assert api.accepted[next(k for k in api.accepted if api.accepted[k] == 2)] == 2
    assert sum(api.accepted.values()) == 33  # 32 requests once + the 503 line again
    usage, sync_usage = manifest["llm"][STAGE], sync["llm"][STAGE]
    assert usage["requests"] == sync_usage["requests"] == 32 and usage["cached"] == 0
    assert usage["cost_usd"] == pytest.approx(sync_usage["cost_usd"] / 2, rel=1e-3)
    rerun = run(cfg)  # answers from the cache; only the rejected request is tried again, as a sync rerun does
    assert [u["lines"] for u in api.uploads[4:]] == [1] and rerun["llm"][STAGE]["cached"] == 31
    assert answers(tmp_path / "batch") == answers(tmp_path / "sync")


def test_expired_batch_resubmits_only_its_missing_lines(tmp_path, fake_openai):
    instructions = [f"Expiring question {i}." for i in range(10)]
    api = fake_openai.batches
    api.expire_next = 4  # the first batch expires with 4 of its 10 lines answered
    manifest = run(config(tmp_path, instructions, batch_endpoint(fake_openai, tmp_path)))
    assert manifest["counts"]["output"] == 10
    assert [u["lines"] for u in api.uploads] == [10, 6]
    assert sorted(api.accepted.values()) == [1] * 4 + [2] * 6


def test_budget_refuses_a_too_expensive_batch_before_any_upload(tmp_path, fake_openai):
    instructions = [f"Expensive question {i}." for i in range(10)]
    endpoint = {**batch_endpoint(fake_openai, tmp_path), "max_cost_usd": 0.01}
    manifest = run(config(tmp_path, instructions, endpoint))
    assert fake_openai.batches.uploads == [] and fake_openai.total == 0
    stage = next(s for s in manifest["stages"] if s["name"] == STAGE)
    assert stage["reasons"] == {"budget_exhausted": 10}


def test_a_rejected_file_is_a_clear_error_and_nothing_is_published(tmp_path, fake_openai):
    instructions = ["Fine question.", "Broken one [[batch:invalid]]", "Another fine one."]
    with pytest.raises(Exception) as caught:
        run(config(tmp_path, instructions, batch_endpoint(fake_openai, tmp_path)))
    code, message = describe(caught.value)
    assert code == 1 and "rejected request file" in message and "line 2" in message and "invalid" in message
    assert not (tmp_path / "out" / "_manifest.json").exists()


def test_batch_file_waits_then_reads_vllm_style_results(tmp_path, fake_openai):
    instructions = [f"Offline question {i}." for i in range(5)]
    endpoint = endpoint_settings(fake_openai, mode="batch_file", cache_uri=str(tmp_path / "cache"),
                                 batch={"file_uri": str(tmp_path / "requests")})
    with pytest.raises(WaitingForBatchResults) as caught:
        run(config(tmp_path, instructions, endpoint))
    assert describe(caught.value)[0] == 4
    [request_file] = sorted((tmp_path / "requests").iterdir())
    lines = [json.loads(x) for x in request_file.read_text().splitlines()]
    assert len(lines) == 5 and {x["url"] for x in lines} == {"/v1/chat/completions"}
    results = tmp_path / "results"
    results.mkdir()
    with open(results / "out.jsonl", "w") as f:  # what `vllm run-batch` writes, one line per request
        for x in lines:
            body = fake_openai.completion_body(x["body"], x["body"]["messages"], None)
            f.write(json.dumps({"id": "r", "custom_id": x["custom_id"], "error": None,
                                "response": {"status_code": 200, "body": body}}) + "\n")
        f.write(json.dumps({"custom_id": "not-ours", "response": None, "error": None}) + "\n")
    endpoint["batch"]["file_results"] = str(results)
    manifest = run(config(tmp_path, instructions, endpoint))
    assert manifest["counts"]["output"] == 5 and fake_openai.total == 0


def test_a_named_endpoint_batches_into_the_cache_its_sync_path_reads(tmp_path, fake_openai, capsys):
    instructions = [f"Name a tree number {i}." for i in range(6)]
    sync = config(tmp_path, instructions, endpoint_settings(fake_openai), out="sync")
    run(sync)
    fake_openai.reset_counts()
    teacher = endpoint_settings(fake_openai, mode="batch", cache_uri=None, max_resubmits=1, batch=FAST)
    cfg = {**config(tmp_path, instructions, {}), "endpoint": None, "endpoints": {"teacher": teacher},
           "stages": [{STAGE: {"endpoint": "teacher"}}]}
    run(cfg)
    assert answers(tmp_path / "out") == answers(tmp_path / "sync") and fake_openai.total == 0
    cache = tmp_path / "out" / "_llm_cache" / "teacher"  # the named endpoint's own folder, as in sync mode
    assert len(list(cache.glob("*.jsonl"))) == 1 and len(list((tmp_path / "out" / "_llm_cache" / "teacher_batches"
                                                                / "ledger").glob("*.json"))) == 1
    from pipelines.batch.cli import main as batches
    assert batches("list", str(tmp_path / "out")) == 0 and fake_openai.batches.uploads[0]["lines"] == 6
    assert "generate_response" in capsys.readouterr().out
    teacher["mode"] = "sync"  # the sync path finds every answer the batch bought
    rerun = run(cfg)
    assert rerun["llm"][STAGE]["cached"] == 6 and fake_openai.total == 0 and len(fake_openai.batches.uploads) == 1
