"""The real CLI on a local Ray: `--input` semantics, and GPT-4-LLM's configs run as their comments say."""
import gzip
import json
import os
import subprocess
import sys

import pytest

from tests.pipelines.cli_helpers import REPO, cli
from tests.support.openai_server import FakeOpenAI
from tests.support.translation_server import TranslationReplay

MAPPED_CONFIG = """
name: mapped
lang: en
inputs:
  - uri: {uri}
    fields: {{instruction: en_instruction, input: en_input, output: en_output}}
output: {{uri: {out}}}
stages: [normalize]
"""
ALPACA = [{"instruction": f"Name {n} colours.", "input": "", "output": "Red and blue."} for n in range(2, 6)]
SHAREGPT = [{"conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "Hi!"}]},
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say bye."},
                          {"role": "assistant", "content": "Bye!"}]},
            {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
                               {"from": "human", "value": "c"}, {"from": "gpt", "value": "d"}]}]
QA = [{"q": "What is two plus two?", "a": "Four."}, {"q": "What is the capital of France?", "a": "Paris."}]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def published(out, kind="shards"):
    rows = []
    for shard in json.loads((out / "_manifest.json").read_text())[kind]:
        with gzip.open(out / shard["path"], "rt") as handle:
            rows.extend(json.loads(line) for line in handle)
    return rows


def test_input_replaces_the_config_mapping_and_fields_give_one(tmp_path):
    config = tmp_path / "mapped.yaml"
    config.write_text(MAPPED_CONFIG.format(uri=tmp_path / "configured.jsonl", out=tmp_path / "unused"))
    out = tmp_path / "out"
    code, _, stdout, err = cli("run", str(config), "--input", write_jsonl(tmp_path / "alpaca.jsonl", ALPACA),
                               "--input", write_jsonl(tmp_path / "sharegpt.jsonl", SHAREGPT),
                               "--input", write_jsonl(tmp_path / "qa.jsonl", QA), "--fields", "instruction=q,output=a",
                               "--output", str(out))
    assert code == 0, err
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["counts"] == {"input": 9, "output": 8, "rejected": 1}
    assert manifest["stages"][0]["reasons"] == {"unsupported_conversation:conversations": 1}
    rows = {r["instruction"]: r["output"] for r in published(out)}
    assert rows["Name 3 colours."] == "Red and blue."
    assert rows["Say hi."] == "Hi!" and rows["Say bye."] == "Bye!"
    assert rows["What is two plus two?"] == "Four."


def test_every_row_failing_at_read_is_an_error_not_an_empty_release(tmp_path):
    config = tmp_path / "mapped.yaml"
    config.write_text(MAPPED_CONFIG.format(uri=tmp_path / "configured.jsonl", out=tmp_path / "unused"))
    out = tmp_path / "out"
    code, _, _, err = cli("run", str(config), "--input", write_jsonl(tmp_path / "qa.jsonl", QA), "--output", str(out))
    assert code == 2, err[-3000:]
    assert "missing_field:instruction" in err and "--fields" in err
    assert not (out / "_manifest.json").exists()


def _run_streaming(args, env, out):
    """Run the CLI, noting for each `== name` heading which pipelines had published when it was printed."""
    proc = subprocess.Popen([sys.executable, "-m", "pipelines", *args], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = {}
    for line in proc.stdout:
        if line.startswith("== "):
            seen[line[3:].strip()] = sorted(p.parent.name for p in out.glob("*/_manifest.json"))
    err = proc.stderr.read()
    return proc.wait(), seen, err


def test_gpt4_llm_as_documented_against_a_misbehaving_server(data_dir, tmp_path):
    alpaca = tmp_path / "alpaca_data.json"
    rows = []
    with gzip.open(data_dir / "alpaca_parallel_en_zh_52k.jsonl.gz", "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i % 2600 == 11:
                row = json.loads(line)
                rows.append({"instruction": row["en_instruction"], "input": row["en_input"], "output": row["en_output"]})
    alpaca.write_text(json.dumps(rows))
    out = tmp_path / "release"
    with FakeOpenAI(answer_fn=TranslationReplay(), fault_rates={"503": 0.15, "429": 0.05, "malformed": 0.05},
                    retry_after_s=0.1) as server:
        env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": "", "OPENAI_API_KEY": ""}
        code, seen, err = _run_streaming(
            ["run", "configs/gpt4_llm.yaml", "--input", str(alpaca), "--output", str(out),
             "--set", f"endpoint.base_url={server.url}", "endpoint.model=my-model", "endpoint.max_cost_usd=null",
             "endpoint.num_actors=1", "endpoint.rpm=null", "endpoint.tpm=null", "endpoint.backoff_base_s=0.05",
             "endpoint.max_retries=6", "ray.batch_rows=8"], env, out)
    assert code == 0, err[-3000:]
    assert seen == {"gpt4_alpaca_en": ["gpt4_alpaca_en"], "gpt4_alpaca_zh": ["gpt4_alpaca_en", "gpt4_alpaca_zh"]}
    for name in ("gpt4_alpaca_en", "gpt4_alpaca_zh"):
        manifest = json.loads((out / name / "_manifest.json").read_text())
        assert manifest["counts"]["input"] == len(rows)
        assert manifest["counts"]["output"] + manifest["counts"]["rejected"] == len(rows)
        assert manifest["counts"]["output"] > 0
        assert (out / name / "_llm_cache").is_dir()  # the response cache follows --output
    assert "Traceback" not in err


def test_identical_rerun_publishes_byte_identical_shards_and_keeps_the_cost(tmp_path):
    alpaca = tmp_path / "alpaca_data.json"
    alpaca.write_text(json.dumps([{"instruction": f"Give {n} reasons to learn to swim.", "input": "",
                                   "output": ""} for n in range(2, 14)]))
    out = tmp_path / "release"
    manifests = []
    with FakeOpenAI(latency_s=0.01) as server:
        for _ in range(2):
            code, _, _, err = cli("run", "configs/gpt4_alpaca_en.yaml", "--input", str(alpaca), "--output", str(out),
                                  "--set", f"endpoint.base_url={server.url}", "endpoint.num_actors=1",
                                  "endpoint.rpm=null", "endpoint.tpm=null", env={"OPENAI_API_KEY": ""})
            assert code == 0, err[-3000:]
            manifests.append(json.loads((out / "_manifest.json").read_text()))
        assert server.total == 12  # the rerun asked nothing
    first, again = manifests
    assert [(s["path"], s["sha256"]) for s in again["shards"] + again["rejects"] + again["exports"]] == \
        [(s["path"], s["sha256"]) for s in first["shards"] + first["rejects"] + first["exports"]]
    paid, replayed = first["llm"]["generate_response"], again["llm"]["generate_response"]
    assert paid["requests"] == 12 and paid["cached"] == 0 and paid["cost_usd"] > 0
    assert replayed["requests"] == 0 and replayed["cached"] == 12 and replayed["cost_usd"] == 0
    assert replayed["answers_cost_usd"] == paid["answers_cost_usd"] == paid["cost_usd"]
    assert replayed["answers_completion_tokens"] == paid["completion_tokens"] > 0


def test_curate_config_detects_each_rows_language_and_applies_its_rules(data_dir, tmp_path):
    """`lang: auto` (configs/curate.yaml's default): real Chinese and English GPT-4 answers in one run are
    both curated, each by its own language's rules; a language the config does not allow is rejected."""
    samples = data_dir / "gpt4-llm-samples"
    zh = json.loads((samples / "alpaca_gpt4_zh_sample.json").read_text(encoding="utf-8"))
    en = json.loads((samples / "alpaca_gpt4_en_sample.json").read_text(encoding="utf-8"))
    french = [{"instruction": "Décrivez le cycle de l'eau en trois phrases simples et claires.",
               "output": "L'eau s'évapore des océans. Elle forme des nuages. Elle retombe en pluie sur la terre."}]
    out = tmp_path / "out"
    code, _, _, err = cli("run", "configs/curate.yaml", "--input", str(samples / "alpaca_gpt4_zh_sample.json"),
                          "--input", str(samples / "alpaca_gpt4_en_sample.json"),
                          "--input", write_jsonl(tmp_path / "fr.jsonl", french), "--output", str(out))
    assert code == 0, err[-3000:]
    rows, rejects = published(out), published(out, "rejects")
    assert len(rows) + len(rejects) == len(zh) + len(en) + 1
    by_file = {}
    for row in rows:
        by_file.setdefault(row["source"].split(":")[0].rsplit("/", 1)[-1], set()).add(row["lang"])
    assert by_file == {"alpaca_gpt4_zh_sample.json": {"zh"}, "alpaca_gpt4_en_sample.json": {"en"}}
    kept_zh = sum(1 for r in rows if r["lang"] == "zh")
    kept_en = sum(1 for r in rows if r["lang"] == "en")
    assert kept_zh > 0.85 * len(zh) and kept_en > 0.85 * len(en), (kept_zh, kept_en)
    assert [r["reason"] for r in rejects if "fr.jsonl" in r["source"]] == ["unsupported_language"]
    chinese_rules = [r for r in rejects if r["lang"] == "zh" and r["stage"] == "instruction_filter"]
    assert chinese_rules and all(json.loads(r["detail"]).get("lang", "zh") == "zh" for r in chinese_rules)
