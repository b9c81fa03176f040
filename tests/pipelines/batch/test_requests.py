"""Request files and result lines, without Ray or a server."""
import json

import pytest

from operators.llm.batch_settings import BatchSettings
from operators.llm.cache import ResponseCache
from operators.llm.endpoint import ConfigurationError, EndpointConfig, Price
from pipelines.batch.requests import RequestFiles, read_lines
from pipelines.config import ConfigError, load_config
from pipelines.batch.results import Tally, absorb

BODY = {"model": "gpt-4", "messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 10}


def test_files_split_at_either_limit_and_keep_the_protocol(tmp_path):
    by_count = RequestFiles(str(tmp_path / "a"), "r", BatchSettings(max_requests_per_file=3), Price(prompt_usd_per_1m=1))
    for i in range(7):
        by_count.add(f"k{i}", BODY)
    files = by_count.close()
    assert [f["requests"] for f in files] == [3, 3, 1] and all(f["estimate_usd"] > 0 for f in files)
    line = json.loads(open(files[0]["uri"]).readline())
    assert line == {"custom_id": "k0", "method": "POST", "url": "/v1/chat/completions", "body": BODY}
    by_size = RequestFiles(str(tmp_path / "b"), "r", BatchSettings(max_file_mb=0.001), None)
    for i in range(5):
        by_size.add(f"k{i}", BODY)
    files = by_size.close()
    assert len(files) == 5 and all(f["bytes"] <= 1000 for f in files)
    assert [key for f in files for _, key, _ in read_lines(f["uri"])] == [f"k{i}" for i in range(5)]


def line(key, status, body):
    return {"custom_id": key, "response": {"status_code": status, "body": body}, "error": None}


def test_result_lines_follow_the_synchronous_rules(tmp_path):
    cfg = EndpointConfig(model="gpt-4", cache_uri=str(tmp_path / "c"), mode="batch")
    cache = ResponseCache(str(tmp_path / "c"))
    answer = {"model": "gpt-4", "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 1000, "completion_tokens": 1000}}
    lines = [line("a", 200, answer), line("b", 503, {"error": {}}),
             line("c", 400, {"error": {"code": "context_length_exceeded"}}), line("d", 200, {"choices": "x"}),
             {"custom_id": "e", "response": None, "error": {"code": "batch_expired"}}, line("zz", 200, answer),
             line("a", 200, answer)]
    tally = Tally()
    absorb(lines, {"a", "b", "c", "d", "e"}, cfg, cache, tally, "batch_1", {}, "endpoint x")
    assert cache.get("a")["cost_usd"] == pytest.approx(0.045)  # gpt-4 at half price: (30 + 60) / 2 per 1M
    assert cache.get("a")["batch_id"] == "batch_1"
    assert tally.retry == {"b": "503", "d": "malformed"} and tally.decided["c"]["reason"] == "prompt_too_long"
    assert "e" not in tally.seen and tally.unknown == 2  # an unknown custom_id and a repeated one
    with pytest.raises(ConfigurationError):
        absorb([line("a", 401, {})], {"a"}, cfg, cache, Tally(), "b", {}, "endpoint x")


def test_batch_mode_without_cache_is_a_config_error():
    with pytest.raises(ValueError, match="response cache"):
        EndpointConfig(mode="batch", cache_uri="none")


def test_the_issues_flat_spellings_fold_into_batch(tmp_path):
    cfg = EndpointConfig(mode="batch_file", max_resubmits=5, batch_file_results="results/")
    assert cfg.batch.max_resubmits == 5 and cfg.batch.file_results == "results/"
    assert "batch_file_results" not in cfg.model_dump()  # one canonical form: batch.file_results
    assert EndpointConfig(max_resubmits=3, batch={"max_resubmits": 3, "poll_s": 1}).batch.poll_s == 1
    with pytest.raises(ValueError, match="batch_file_results='b/' and batch.file_results='a/' disagree"):
        EndpointConfig(batch_file_results="b/", batch={"file_results": "a/"})
    path = tmp_path / "c.yaml"
    path.write_text("name: t\ninputs: [{uri: in.jsonl}]\noutput: {uri: out}\nendpoint: {mode: batch_file}\n"
                    "endpoints: {small: {model: gpt-4o-mini}}\nstages: [generate_response]\n")
    loaded, _ = load_config(str(path), ["endpoint.batch_file_results=r/", "endpoints.*.max_resubmits=0"])
    assert loaded.endpoint.batch.file_results == "r/" and loaded.endpoints["small"].batch.max_resubmits == 0
    with pytest.raises(ConfigError, match="disagree"):
        load_config(str(path), ["endpoint.batch_file_results=r/", "endpoint.batch.file_results=s/"])
