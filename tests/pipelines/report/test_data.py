"""The report's figures from a small release written the way the sink writes it (no Ray)."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from operators.schema import REJECT_SCHEMA, RECORD_SCHEMA, make_record
from pipelines.io.sink import encode
from pipelines.report import data, verbs
from pipelines.report.scan import scan_release
from tests.support.shared_data import BELLE_ZH_SEEDS, alpaca_instructions, seed_tasks


def release(tmp_path, rows, rejects):
    (tmp_path / "data").mkdir()
    (tmp_path / "rejects").mkdir()
    (tmp_path / "data" / "a.jsonl.gz").write_bytes(encode(pa.Table.from_pylist(rows, RECORD_SCHEMA), "jsonl"))
    (tmp_path / "rejects" / "r.jsonl.gz").write_bytes(encode(pa.Table.from_pylist(rejects, REJECT_SCHEMA), "jsonl"))
    reasons: dict = {}
    for r in rejects:
        reasons.setdefault(r["stage"], {}).setdefault(r["reason"], 0)
        reasons[r["stage"]][r["reason"]] += 1
    return {"shards": [{"path": "data/a.jsonl.gz", "format": "jsonl"}],
            "rejects": [{"path": "rejects/r.jsonl.gz", "format": "jsonl"}],
            "stages": [{"name": s, "in": 0, "out": 0, "rejected": sum(r.values()), "reasons": r}
                       for s, r in reasons.items()]}


def test_funnel_examples_duplicate_pairs_and_lengths_per_language(tmp_path):
    kept = make_record("Write a poem about the sea.", "", "Waves roll in and out.", "en")
    zh = make_record("写一首关于大海的诗。", "", "海浪 翻滚。", "zh")
    rejects = [{**make_record(f"Too short {n}", "", "", "en"), "stage": "length_filter", "reason": "too_short",
                "detail": None} for n in range(5)]
    rejects.append({**make_record("Write a poem about the sea!", "", "x", "en"), "stage": "dedup",
                    "reason": "near_duplicate", "detail": json.dumps({"duplicate_of": kept["id"], "similarity": 0.8})})
    manifest = release(tmp_path, [kept, zh], rejects)
    scan = scan_release(str(tmp_path), manifest, verb_limit=None)
    stages = {s["name"]: s for s in data.funnel(manifest, scan.examples)}
    short = stages["length_filter"]["reasons"][0]
    assert short["count"] == 5 and [e["instruction"] for e in short["examples"]] == [f"Too short {n}" for n in range(3)]
    dups = data.duplicates(manifest, scan.pairs, scan.kept)
    assert dups["counts"] == {"exact_duplicate": 0, "near_duplicate": 1}
    assert dups["pairs"]["near_duplicate"][0]["kept"]["instruction"] == "Write a poem about the sea."
    lengths = data.lengths(scan.length_values())
    assert lengths["en"]["instruction"]["n"] == 1 and lengths["en"]["instruction"]["max"] == 6  # words
    assert lengths["zh"]["instruction"]["max"] == 10 and lengths["zh"]["output"]["max"] == 5  # characters
    assert lengths["zh"]["input"]["n"] == 0  # empty inputs are not counted
    mix = data.language_mix(scan.published, scan.rejected)
    assert mix == [{"lang": "en", "published": 1, "rejected": 6}, {"lang": "zh", "published": 1, "rejected": 0}]


def test_a_release_is_read_a_file_at_a_time_and_the_verb_sample_is_the_smallest_ids(tmp_path):
    rows = [make_record(f"Describe the city number {n} in a few words.", "", "A city.", "en") for n in range(30)]
    (tmp_path / "data").mkdir()
    shards = []
    for k in range(3):  # three shards of 10 rows
        name = f"data/s{k}.jsonl.gz"
        (tmp_path / name).write_bytes(encode(pa.Table.from_pylist(rows[k * 10:(k + 1) * 10], RECORD_SCHEMA), "jsonl"))
        shards.append({"path": name, "format": "jsonl"})
    manifest = {"shards": shards, "rejects": [], "stages": []}
    scan = scan_release(str(tmp_path), manifest, verb_limit=7)
    sample = scan.verbs["en"]
    assert sample.rows == 30 and sorted(sample.ids) == sorted(r["id"] for r in rows)[:7]
    assert data.lengths(scan.length_values())["en"]["instruction"]["n"] == 30
    # a keeper that a later stage rejected is still found
    keeper = {**rows[0], "stage": "length_filter", "reason": "too_short", "detail": None}
    dup = {**make_record("Describe the city number 0 in few words.", "", "x", "en"), "stage": "dedup",
           "reason": "near_duplicate", "detail": json.dumps({"duplicate_of": rows[0]["id"], "similarity": 0.9})}
    (tmp_path / "rejects").mkdir()
    (tmp_path / "rejects" / "r.jsonl.gz").write_bytes(encode(pa.Table.from_pylist([dup, keeper], REJECT_SCHEMA), "jsonl"))
    manifest = {"shards": shards[1:], "rejects": [{"path": "rejects/r.jsonl.gz", "format": "jsonl"}], "stages": []}
    scan = scan_release(str(tmp_path), manifest, verb_limit=7)
    assert scan.kept[rows[0]["id"]]["instruction"] == rows[0]["instruction"]


def test_histogram_puts_the_long_tail_in_the_last_bin():
    hist = data.histogram(*np.unique(list(range(1, 101)) + [10_000], return_counts=True))
    assert sum(hist["counts"]) == 101 and hist["counts"][-1] >= 1 and hist["max"] == 10_000
    assert len(hist["edges"]) == len(hist["counts"]) + 1


def test_histogram_from_counts_has_numpys_figures_over_every_row():
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 99, 100, 101, 1000, 4321):
        rows = np.concatenate([rng.integers(0, 40, n), rng.integers(0, 5000, n // 50 + 1)])  # ties and a tail
        hist = data.histogram(*np.unique(rows, return_counts=True))
        top = max(1, int(np.percentile(rows, 99)))
        width = max(1, -(-top // data.BINS))
        expected = np.bincount(np.minimum(rows // width, data.BINS), minlength=data.BINS + 1)
        expected[data.BINS - 1] += expected[data.BINS]
        assert hist["edges"][1] == width and hist["counts"] == expected[:data.BINS].tolist()
        assert (hist["n"], hist["median"], hist["mean"], hist["max"]) == (
            rows.size, float(np.median(rows)), round(float(rows.mean()), 2), int(rows.max()))


def test_the_scan_keeps_one_count_per_distinct_length_not_one_per_row(tmp_path):
    rows = [make_record(f"Name a colour, number {n}.", "", "Blue." if n % 2 else "Dark blue.", "en") for n in range(40)]
    (tmp_path / "data").mkdir()
    shards = []
    for k in range(4):  # four Parquet shards of 10 rows
        name = f"data/s{k}.parquet"
        (tmp_path / name).write_bytes(encode(pa.Table.from_pylist(rows[k * 10:(k + 1) * 10], RECORD_SCHEMA), "parquet"))
        shards.append({"path": name, "format": "parquet"})
    scan = scan_release(str(tmp_path), {"shards": shards, "rejects": [], "stages": []}, verb_limit=None)
    assert dict(scan.lengths["en"]["output"]) == {1: 20, 2: 20} and dict(scan.lengths["en"]["instruction"]) == {5: 40}
    hist = data.lengths(scan.length_values())["en"]["output"]
    assert (hist["n"], hist["median"], hist["mean"], hist["max"]) == (40, 1.5, 1.5, 2)


def test_english_verbs_of_alpaca_instructions_are_the_papers_verbs():
    texts = alpaca_instructions(1500)
    result = verbs.diversity([str(i) for i in range(len(texts))], texts, "en", limit=1000)
    top = [v["verb"] for v in result["verbs"]]
    assert result["parsed"] == 1000 and len(top) == 20
    assert sum(v in top[:10] for v in ("write", "give", "generate", "describe", "create", "explain")) >= 4, top
    assert all(1 <= len(v["nouns"]) <= 4 for v in result["verbs"])
    assert 0.05 < result["no_pair_share"] < 0.6


def test_chinese_verbs_come_from_jieba_pos_tags():
    texts = [t["instruction"] for t in seed_tasks(BELLE_ZH_SEEDS)]
    result = verbs.diversity([str(i) for i in range(len(texts))], texts, "zh", limit=None)
    assert result["parser"] == "jieba.posseg" and result["parsed"] == len(texts)
    assert result["verbs"] and result["with_pair"] > len(texts) // 4
    assert verbs.chinese_pairs(["写一首诗"]) == [("写", "诗")]
