"""Bootstrapping runs (Alpaca method) against the fake OpenAI server, through the real runner and Ray."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from rouge_score import rouge_scorer

from pipelines.bootstrap import CHECKPOINTS
from tests.pipelines.helpers import check_balance, check_manifest_files, published_rows, run
from tests.support.bootstrap_server import bootstrap_answer
from tests.support.llm_fixtures import CANARY_KEY, endpoint_settings
from tests.support.openai_server import FakeOpenAI
from tests.support.shared_data import SELF_INSTRUCT_SEEDS, seed_tasks

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
TARGET = 120


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(latency_s=0.01, answer_fn=bootstrap_answer, fault_rates={"length": 0.2},
                    expected_key=CANARY_KEY) as srv:
        yield srv


def raw_config(server, out, **source):
    return {"name": "boot", "lang": "en",
            "source": {"method": "alpaca", "seeds": str(SELF_INSTRUCT_SEEDS), "target": TARGET,
                       "prompts_per_round": 3, **source},
            "output": {"uri": str(out)},
            "endpoint": endpoint_settings(server, cache_uri=None),
            "stages": [{"normalize": {}}]}


def max_rouge(text, others):
    return max((SCORER.score(o, text)["rougeL"].fmeasure for o in others), default=0.0)


def test_every_candidate_is_accounted_for_and_accepted_ones_are_novel(ray_session, server, tmp_path):
    manifest = run(raw_config(server, tmp_path / "out"))
    check_balance(manifest, manifest["source"]["candidates"], tmp_path / "out")  # the input is what the source generated
    check_manifest_files(tmp_path / "out", manifest)
    source = manifest["stages"][0]
    assert source["name"] == "alpaca" and source["out"] == TARGET == manifest["counts"]["output"]
    assert manifest["source"]["stopped"] == "target" and manifest["source"]["candidates"] == source["in"]
    for reason in ("too_similar", "unparseable", "too_short", "truncated"):
        assert source["reasons"].get(reason), (reason, source["reasons"])
    assert any(r.startswith("blacklist:") for r in source["reasons"])
    rows = published_rows(tmp_path / "out")
    rejects = published_rows(tmp_path / "out", "rejects")
    assert len(rows) + len(rejects) == source["in"]
    assert len({r["source"] for r in rows + rejects}) == source["in"]  # round:<n>/prompt:<k>/item:<i>, once each
    seeds = [t["instruction"] for t in seed_tasks()]
    accepted = [r["instruction"] for r in rows]
    for i, text in enumerate(accepted):  # brute force: against every seed and every other accepted one
        assert max_rouge(text, seeds + accepted[:i] + accepted[i + 1:]) <= 0.7, text
    similar = [r for r in rejects if r["reason"] == "too_similar"]
    for r in similar[:20]:
        detail = json.loads(r["detail"])
        assert detail["rouge_l"] > 0.7
        assert SCORER.score(detail["most_similar"], r["instruction"])["rougeL"].fmeasure == pytest.approx(
            detail["rouge_l"], abs=1e-6)
        assert detail["most_similar"] in seeds + accepted
    meta = json.loads(rows[0]["meta"])
    assert meta["method"] == "alpaca" and len(meta["prompt_examples"]) == 3
    assert 0 < len(meta["similarity"]["most_similar"]) <= 10


def test_rerun_pays_nothing(ray_session, server, tmp_path):
    first = run(raw_config(server, tmp_path / "out"))
    before = server.total
    second = run(raw_config(server, tmp_path / "out"))
    assert server.total == before
    assert second["source"]["replayed_rounds"] == second["source"]["rounds"] == first["source"]["rounds"]
    assert second["source"]["llm"]["requests"] == 0
    assert second["stages"] == first["stages"] and second["shards"] == first["shards"]


KILLABLE = """
import sys
from pipelines.bootstrap import run_source
from pipelines.config import load_config
cfg, _ = load_config(sys.argv[1])
run_source("alpaca", cfg.source.config, {"endpoint": cfg.endpoint.model_dump(), "output_uri": cfg.output.uri}, "k")
"""


def test_killed_mid_round_then_rerun_gives_the_same_accepted_set(ray_session, tmp_path):
    import yaml
    with FakeOpenAI(latency_s=0.3, answer_fn=bootstrap_answer, fault_rates={"length": 0.2},
                    expected_key=CANARY_KEY) as slow:
        reference = run(raw_config(slow, tmp_path / "reference"))
        expected = sorted(r["instruction"] for r in published_rows(tmp_path / "reference"))
        raw = raw_config(slow, tmp_path / "out")
        path = tmp_path / "boot.yaml"
        path.write_text(yaml.safe_dump(raw))
        slow.reset_counts()
        proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(path)], cwd=os.getcwd(),
                                start_new_session=True)
        checkpoints = tmp_path / "out" / CHECKPOINTS
        deadline = time.monotonic() + 120
        while not list(checkpoints.glob("*/round-00001.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.15)  # round 2's requests are in flight
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert list(checkpoints.glob("*/round-00001.json")) and not list(checkpoints.glob("*/round-00003.json"))
        # answers lost with the killed process are asked again: the server must answer them as it did
        # the first time (its fault draws count requests per prompt), as a deterministic model would
        slow.reset_counts()
        resumed = run(raw)
    assert sorted(r["instruction"] for r in published_rows(tmp_path / "out")) == expected
    assert resumed["source"]["replayed_rounds"] >= 2
    assert Counter(resumed["stages"][0]["reasons"]) == Counter(reference["stages"][0]["reasons"])


def test_seed_file_without_a_task_is_a_clear_error(ray_session, server, tmp_path):
    from pipelines.io.readers import InputError
    bad = tmp_path / "seeds.jsonl"
    bad.write_text('{"name": "no instruction"}\nnot json\n')
    before = server.total
    with pytest.raises(InputError, match="seeds.jsonl: no usable seed task"):
        run(raw_config(server, tmp_path / "out", seeds=str(bad)))
    assert server.total == before


def test_source_section_is_validated_and_settable(tmp_path):
    from pipelines.config import ConfigError, load_config
    cfg, raw = load_config("configs/alpaca_generate.yaml", ["source.target=77", "source.seeds=a.jsonl"])
    assert cfg.source.method == "alpaca" and cfg.source.config.target == 77 and cfg.source.config.seeds == "a.jsonl"
    assert cfg.source.config.num_instructions == 20 and not cfg.inputs
    with pytest.raises(ConfigError, match="source.nosuch"):
        load_config("configs/alpaca_generate.yaml", ["source.nosuch=1"])
    with pytest.raises(ConfigError, match="not both"):
        load_config("configs/alpaca_generate.yaml", inputs=["x.jsonl"])
    with pytest.raises(ConfigError, match="is a source"):
        load_config("configs/alpaca_generate.yaml", ["stages.0=alpaca"])


def test_self_instruct_run_generates_instances(ray_session, server, tmp_path):
    raw = raw_config(server, tmp_path / "out", method="self_instruct", target=40)
    del raw["source"]["prompts_per_round"]
    raw["output"]["self_instruct_json"] = "tasks.json"
    manifest = run(raw)
    check_balance(manifest, manifest["source"]["candidates"], tmp_path / "out")
    source = manifest["stages"][0]
    assert manifest["source"]["pooled"] == 40 and source["out"] == manifest["source"]["accepted"] > 0
    assert {"too_similar", "truncated"} <= set(source["reasons"])
    rows = published_rows(tmp_path / "out")
    seeds = [t["instruction"] for t in seed_tasks()]
    accepted = [r["instruction"] for r in rows]
    for i, text in enumerate(accepted):
        assert max_rouge(text, seeds + accepted[:i]) <= 0.7, text
    for row in rows:
        meta = json.loads(row["meta"])
        assert 1 <= len(meta["instances"]) <= 5 and isinstance(meta["is_classification"], bool)
        assert (row["input"], row["output"]) == (meta["instances"][0]["input"], meta["instances"][0]["output"])
        assert all(i["input"] != i["output"] and i["output"] for i in meta["instances"])
    assert any(json.loads(r["meta"])["is_classification"] for r in rows)
    # the export in the Self-Instruct layout: one task per published row, readable as seeds again
    from pipelines.bootstrap import read_seeds
    export = next(e for e in manifest["exports"] if e["path"].endswith("/tasks.json"))
    path = tmp_path / "out" / export["path"]
    tasks = json.loads(path.read_text())
    assert export["format"] == "self_instruct_json" and export["rows"] == len(tasks) == len(rows)
    by_id = {r["id"]: json.loads(r["meta"]) for r in rows}
    for task in tasks:
        assert set(task) == {"id", "instruction", "instances", "is_classification"}
        meta = by_id[task["id"]]
        assert (task["instances"], task["is_classification"]) == (meta["instances"], meta["is_classification"])
    assert [t.instruction for t in read_seeds([str(path)])[0]] == [t["instruction"] for t in tasks]


def stop_config(server, out, **endpoint):
    raw = raw_config(server, out, max_empty_rounds=2)
    raw["endpoint"].update(endpoint)
    return raw


def check_early_stop(manifest, out, stopped, why):
    check_balance(manifest, manifest["source"]["candidates"], out)
    report = manifest["source"]
    assert report["stopped"] == stopped and why in report["message"]
    assert 0 < report["accepted"] == manifest["counts"]["output"] < TARGET
    assert len(published_rows(out)) == report["accepted"]


def test_budget_stops_the_source_and_publishes_what_was_accepted(ray_session, server, tmp_path):
    manifest = run(stop_config(server, tmp_path / "out", max_requests=2))  # 3 prompts per round
    check_early_stop(manifest, tmp_path / "out", "budget", "budget ran out")
    assert manifest["source"]["rounds"] == 1 and manifest["source"]["llm"]["requests"] == 2
    assert manifest["stages"][0]["reasons"]["budget_exhausted"] == 1
    assert not list((tmp_path / "out" / CHECKPOINTS).glob("*/round-*.json"))  # the round resumes on a rerun


def test_model_without_parseable_items_stops_the_source(ray_session, tmp_path):
    """The first round's answers are lists; from then on the model only apologises."""
    calls, lock = Counter(), threading.Lock()

    def answer(messages, body):
        with lock:
            calls["n"] += 1
            first_round = calls["n"] <= 3  # prompts_per_round: the next round waits for these
        return bootstrap_answer(messages, body) if first_round else "Sorry, I cannot help with that."

    with FakeOpenAI(latency_s=0.01, answer_fn=answer, expected_key=CANARY_KEY) as srv:
        manifest = run(stop_config(srv, tmp_path / "out"))
    check_early_stop(manifest, tmp_path / "out", "no_parseable_items", "no parseable item in 2 rounds")
    assert manifest["source"]["rounds"] == 3 and manifest["stages"][0]["reasons"]["unparseable"] >= 6


def test_unnatural_source_with_paraphrases(server, tmp_path):
    """The source alone (no Ray): one row per candidate, paraphrases linked to their task."""
    from pipelines.bootstrap import run_source
    from pipelines.config import validate
    cfg = validate(raw_config(server, tmp_path / "out", method="unnatural", target=30), "<test>")
    table, report = run_source("unnatural", cfg.source.config,
                               {"endpoint": cfg.endpoint.model_dump(), "output_uri": str(tmp_path / "out")}, "u")
    rows = table.to_pylist()
    assert report["candidates"] == len(rows) == len({r["source"] for r in rows})
    reasons = Counter(r["reason"] for r in rows if r["reason"])
    assert {"missing_field", "too_similar"} <= set(reasons) and all(r["stage"] == "unnatural" for r in rows if r["reason"])
    accepted = [r for r in rows if r["reason"] is None]
    assert report["accepted"] == len(accepted)
    core = {r["id"]: r for r in accepted if "paraphrase_of" not in json.loads(r["meta"])}
    paraphrases = [r for r in accepted if "paraphrase_of" in json.loads(r["meta"])]
    assert len(core) == 30 == report["pooled"] and paraphrases
    for row in paraphrases:
        parent = core[json.loads(row["meta"])["paraphrase_of"]]
        assert row["input"] == parent["input"] and row["instruction"] != parent["instruction"]
        assert row["source"].startswith(parent["source"] + "/paraphrase:")
    seeds = [t["instruction"] for t in seed_tasks()]
    texts = [r["instruction"] for r in core.values()]
    for i, text in enumerate(texts):
        assert max_rouge(text, seeds + texts[:i]) <= 0.7
    assert len({(r["instruction"], r["input"]) for r in accepted}) == len(accepted)
