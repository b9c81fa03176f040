import json
import os

from operators.llm.cache import ResponseCache, cache_key

MESSAGES = [{"role": "user", "content": "Name three colours."}]
PARAMS = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 512}


def test_key_depends_on_request_not_on_param_order():
    key = cache_key("gpt-4", MESSAGES, PARAMS)
    assert key == cache_key("gpt-4", MESSAGES, dict(reversed(list(PARAMS.items()))))
    assert key != cache_key("gpt-4o", MESSAGES, PARAMS)
    assert key != cache_key("gpt-4", MESSAGES, {**PARAMS, "seed": 1})
    assert key != cache_key("gpt-4", [{"role": "user", "content": "Name four colours."}], PARAMS)


def test_entries_survive_a_new_instance_and_torn_files_are_ignored(tmp_path):
    uri = str(tmp_path / "cache")
    first = ResponseCache(uri)
    first.put("k1", {"content": "red, green, blue"})
    assert first.get("k1")["content"] == "red, green, blue"  # pending entries are visible at once
    assert first.flush() == 1 and first.flush() == 0
    # A foreign writer's file with one damaged line, and a temp file a killed writer left behind.
    with open(os.path.join(uri, "other-000001.jsonl"), "w") as handle:
        handle.write(json.dumps({"key": "k2", "content": "two"}) + "\n" + '{"key": "k3", "cont')
    with open(os.path.join(uri, "dead-000001.jsonl.tmp"), "w") as handle:
        handle.write(json.dumps({"key": "k4", "content": "never committed"}) + "\n")
    second = ResponseCache(uri)
    assert second.refresh() == 2
    assert second.get("k1")["content"] == "red, green, blue"
    assert second.get("k2")["content"] == "two"
    assert second.get("k3") is None and second.get("k4") is None


def test_refresh_sees_files_written_later_by_others(tmp_path):
    uri = str(tmp_path / "cache")
    reader, writer = ResponseCache(uri), ResponseCache(uri)
    reader.refresh()
    writer.put("k", {"content": "x"})
    writer.flush()
    assert reader.get("k") is None
    assert reader.refresh() == 1 and reader.get("k")["content"] == "x"


def test_disabled_cache_stores_nothing():
    cache = ResponseCache(None)
    cache.put("k", {"content": "x"})
    assert cache.get("k") is None and cache.flush() == 0 and cache.refresh() == 0


def test_cache_on_s3(s3_bucket):
    uri = f"s3://{s3_bucket}/llm-cache"
    writer = ResponseCache(uri)
    writer.put("k1", {"content": "on s3"})
    assert writer.flush() == 1
    reader = ResponseCache(uri)
    assert reader.refresh() == 1 and reader.get("k1")["content"] == "on s3"
