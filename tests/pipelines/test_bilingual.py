"""configs/gpt4_llm.yaml end to end on Ray against the fake server replaying real translations/answers:
both datasets published with their own manifest, card and alpaca JSON; Chinese rows link to English."""
import gzip
import json
from pathlib import Path

import pytest

from operators import storage
from pipelines.multi import load_multi, run_multi
from tests.support.llm_fixtures import CANARY_KEY, CANARY_KEY_ENV
from tests.support.openai_server import FakeOpenAI
from tests.support.translation_server import TranslationReplay

REPO = Path(__file__).resolve().parents[2]


def rows_of(output: str, entries):
    for entry in entries:
        for line in storage.iter_lines(storage.join(output, entry["path"])):
            yield json.loads(line)


def parallel_input(uri) -> dict:
    return {"uri": str(uri), "fields": {"instruction": "en_instruction", "input": "en_input"}}


def test_bilingual_run(ray_session, data_dir, tmp_path):
    subset = tmp_path / "parallel_subset.jsonl.gz"
    with gzip.open(data_dir / "alpaca_parallel_en_zh_52k.jsonl.gz", "rt", encoding="utf-8") as handle:
        lines = [line for i, line in enumerate(handle) if i % 1300 == 7]
    with gzip.open(subset, "wt", encoding="utf-8") as out:
        out.writelines(lines)
    replay = TranslationReplay()
    with FakeOpenAI(answer_fn=replay, expected_key=CANARY_KEY) as server:
        overrides = [f"endpoint.base_url={server.url}", f"endpoint.api_key_env={CANARY_KEY_ENV}",
                     "endpoint.num_actors=1", "endpoint.concurrency_per_actor=8", "endpoint.rpm=null",
                     "endpoint.tpm=null", "endpoint.max_cost_usd=null", f"endpoint.cache_uri={tmp_path / 'cache'}",
                     "ray.batch_rows=16"]
        loaded = load_multi(str(REPO / "configs" / "gpt4_llm.yaml"), overrides, [parallel_input(subset)], str(tmp_path / "out"))
        en, zh = run_multi(loaded)
        assert replay.translations > 0 and replay.answers > 0
        paid = server.total
        run_multi(load_multi(str(REPO / "configs" / "gpt4_llm.yaml"), overrides, [parallel_input(subset)],
                             str(tmp_path / "again")))
        assert server.total == paid  # the shared cache: the second run pays nothing
    import datasets
    (en_cfg, _), (zh_cfg, _) = loaded
    for cfg, manifest, export in ((en_cfg, en, "alpaca_gpt4_data.json"), (zh_cfg, zh, "alpaca_gpt4_data_zh.json")):
        assert manifest["counts"]["input"] == len(lines)
        assert manifest["counts"]["input"] == manifest["counts"]["output"] + manifest["counts"]["rejected"]
        for stage in manifest["stages"]:
            assert stage["in"] == stage["out"] + stage["rejected"], stage
        assert storage.exists(storage.join(cfg.output.uri, "_manifest.json"))
        assert storage.exists(storage.join(cfg.output.uri, "README.md"))
        listed = [e["path"] for e in manifest["exports"]]
        assert len(listed) == 1 and listed[0].endswith("/" + export)
        loaded_ds = datasets.load_dataset("json", data_files=storage.join(cfg.output.uri, listed[0]), split="train")
        assert loaded_ds.num_rows == manifest["counts"]["output"] > 0
        assert set(loaded_ds.column_names) == {"instruction", "input", "output"}
    english_ids = {r["id"] for r in rows_of(en_cfg.output.uri, en["shards"] + en["rejects"])}
    chinese = list(rows_of(zh_cfg.output.uri, zh["shards"]))
    assert len(chinese) >= len(lines) // 2
    for row in chinese:
        meta = json.loads(row["meta"])
        assert row["lang"] == "zh"
        assert meta["translated_from"] in english_ids
        assert meta["translation"] == "translated"
    published_en = {r["id"] for r in rows_of(en_cfg.output.uri, en["shards"])}
    assert sum(json.loads(r["meta"])["translated_from"] in published_en for r in chinese) >= len(chinese) * 0.8
