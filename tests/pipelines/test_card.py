"""The dataset card links the report and carries the lineage: inputs, stage chain, models and prompts,
licence fields of the config's `card:` section."""
from __future__ import annotations

from pathlib import Path

import yaml

from operators.llm.prompts import TEMPLATES
from pipelines.card import dataset_card
from pipelines.lineage import lineage

REPO = Path(__file__).resolve().parents[2]


def manifest_of(config: dict) -> dict:
    names = ["read"] + [next(iter(s)) if isinstance(s, dict) else s for s in config["stages"]]
    return {"name": config["name"], "run_id": "r1", "config_hash": "c" * 64, "versions": {"instructpipe": "0.1.0"},
            "counts": {"input": 10, "output": 8, "rejected": 2},
            "stages": [{"name": n, "in": 10, "out": 10, "rejected": 0, "reasons": {}} for n in names],
            "shards": [], "rejects": [], "schema": {"id": "string"},
            "inputs": [{"uri": "alpaca_data.json", "format": "json", "lang": "en", "bytes": 5}], "config": config,
            "llm": {"generate_response": {"requests": 9}}}


def test_card_links_the_report_and_names_models_prompts_and_licence():
    config = yaml.safe_load((REPO / "configs" / "gpt4_alpaca_en.yaml").read_text())
    config["card"] = {"license": "cc-by-nc-4.0", "notes": "answers by GPT-4: OpenAI's terms apply"}
    manifest = manifest_of(config)
    card = dataset_card(manifest)
    assert "[`report.html`](report.html)" in card
    assert "read (10 in, 10 out) → normalize (10 in, 10 out) → generate_response" in card
    llm = lineage(manifest)["llm"]
    assert [(m["stage"], m["model"], m["template"]) for m in llm] == [("generate_response", "gpt-4", "alpaca")]
    assert f"| generate_response | `gpt-4` | alpaca | `{llm[0]['sha256']}` |" in card
    assert "**license**: cc-by-nc-4.0" in card and "OpenAI's terms apply" in card


def test_the_prompt_hash_changes_with_the_template_and_the_system_prompt():
    config = yaml.safe_load((REPO / "configs" / "gpt4_alpaca_en.yaml").read_text())
    hashes = set()
    for options in ({"template": "alpaca"}, {"template": "alpaca_zh"}, {"template": "alpaca", "system_prompt": "Be brief."}):
        config["stages"][1] = {"generate_response": options}
        hashes.add(lineage(manifest_of(config))["llm"][0]["sha256"])
    assert len(hashes) == 3 and "alpaca_zh" in TEMPLATES


def test_a_card_without_licence_fields_says_so():
    config = yaml.safe_load((REPO / "configs" / "curate.yaml").read_text())
    card = dataset_card(manifest_of(config))
    assert "not stated (set `card.license` in the config)" in card and "| generate" not in card


def test_a_release_card_says_what_the_release_adds_and_how_to_load_the_latest():
    config = yaml.safe_load((REPO / "configs" / "gpt4_alpaca_en.yaml").read_text())
    config["output"] = {"uri": "s3://bucket/daily/releases/v=3"}
    manifest = manifest_of(config)
    manifest["release"] = {"version": 3, "parent": 2, "skipped_seen": 41}
    manifest["dataset"] = {"rows": 108, "shards": [{"path": "releases/v=1/data/part-00000.parquet",
                                                    "format": "parquet", "rows": 100}]}
    card = dataset_card(manifest)
    assert "Release **v=3** (previous: v=2)" in card
    for label, value in (("new in this release", 8), ("`skipped_seen`", 41),
                         ("carried by reference from earlier releases", 100), ("in the dataset", 108)):
        assert any(line.startswith("| ") and label in line and line.endswith(f"| {value} |")
                   for line in card.splitlines()), label
    assert ('root = "s3://bucket/daily"; ds = datasets.load_dataset("parquet", data_files=' in card
            and '["data_files"]["parquet"]]' in card and "s3fs" in card)
    first = {**manifest, "release": {"version": 1, "parent": None, "skipped_seen": 0}}
    assert "(previous: none, the first release)" in dataset_card(first)
    assert "## Release" not in dataset_card(manifest_of(config))  # a plain run has no release section
