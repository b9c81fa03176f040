"""The backbone end to end on a local Ray, on the real data in ../shared/data."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.pipelines.helpers import check_balance, check_manifest_files, published_rows, run

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture
def bad_file(tmp_path):
    path = tmp_path / "bad.jsonl.gz"
    lines = [b'{"instruction": "Name a colour.", "output": "Red"}', b'{"instruction": "broken',
             b'{"output": "no instruction"}', b'{"instruction": ["a", "list"]}', b'\xff{"instruction": "x"}',
             b'{"instruction": " \\u200b "}', b'[1, 2]']
    with gzip.open(path, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    return path


def test_real_files_all_formats(data_dir, tmp_path, bad_file):
    pq.write_table(pa.table({"prompt": ["Parquet task one", "Parquet task two"], "output": ["a", "b"]}),
                   tmp_path / "p.parquet")
    import datasets
    datasets.Dataset.from_dict({"instruction": ["HF row"], "input": [""], "output": ["y"]}).save_to_disk(
        str(tmp_path / "hf"))
    out = tmp_path / "out"
    manifest = run({
        "name": "all-formats", "lang": "en",
        "inputs": [
            {"uri": str(data_dir / "gpt4-llm-samples/alpaca_gpt4_en_sample.json")},
            {"uri": str(data_dir / "belle/eval_set.jsonl"), "lang": "zh", "keep_fields": ["class"],
             "fields": {"instruction": "question", "output": "std_answer"}},
            {"uri": str(data_dir / "self-instruct/seed_tasks.jsonl")},
            {"uri": str(bad_file)},
            {"uri": str(tmp_path / "p.parquet"), "fields": {"instruction": "prompt"}},
            {"uri": str(tmp_path / "hf")},
        ],
        "output": {"uri": str(out), "formats": ["jsonl", "parquet"], "shard_rows": 700,
                   "alpaca_json": "alpaca_data.json"},
        "stages": [{"normalize": {}}],
    })
    check_manifest_files(out, manifest)
    seed_rows = sum(len(json.loads(line)["instances"]) for line in open(data_dir / "self-instruct/seed_tasks.jsonl"))
    check_balance(manifest, 999 + 1000 + seed_rows + 7 + 2 + 1, out)
    read = manifest["stages"][0]
    assert read["reasons"] == {"malformed_json": 1, "missing_field:instruction": 1, "wrong_type:instruction": 1,
                               "invalid_utf8": 1, "not_an_object": 1}
    assert manifest["stages"][1]["reasons"] == {"empty_instruction": 1}

    rows = published_rows(out)
    assert len(rows) == manifest["counts"]["output"]
    assert all(r["instruction"] for r in rows)
    belle = [r for r in rows if "eval_set.jsonl" in r["source"]]
    assert len(belle) == 1000 and all(r["lang"] == "zh" for r in belle)
    assert "class" in json.loads(belle[0]["meta"])["extra"]

    rejects = published_rows(out, "rejects")
    assert len(rejects) == manifest["counts"]["rejected"]
    broken = next(r for r in rejects if r["reason"] == "malformed_json")
    assert broken["stage"] == "read" and broken["source"].endswith("bad.jsonl.gz:2")
    assert json.loads(broken["detail"])["raw"] == '{"instruction": "broken'

    import datasets as hf
    files = [str(out / s["path"]) for s in manifest["shards"]]
    loaded = hf.load_dataset("json", data_files=[f for f in files if f.endswith(".jsonl.gz")], split="train")
    assert loaded.num_rows == len(rows)
    loaded_pq = hf.load_dataset("parquet", data_files=[f for f in files if f.endswith(".parquet")], split="train")
    assert loaded_pq.num_rows == len(rows)
    export = manifest["exports"][0]["path"]
    assert export.startswith("exports/") and export.endswith("/alpaca_data.json")
    alpaca = json.loads((out / export).read_text())
    assert len(alpaca) == len(rows) and set(alpaca[0]) == {"instruction", "input", "output"}
    assert (out / "README.md").read_text().startswith("# all-formats")
    assert not (out / "_staging").exists()


def test_rerun_is_deterministic_and_replaces_previous_release(data_dir, tmp_path):
    raw = {"name": "det", "lang": "en",
           "inputs": [{"uri": str(data_dir / "gpt4-llm-samples/alpaca_gpt4_zh_sample.json"), "lang": "zh"}],
           "output": {"uri": str(tmp_path / "out"), "shard_rows": 300}, "stages": ["normalize"]}
    first = run(raw)
    stale = tmp_path / "out" / "data" / "part-99999-0000.jsonl.gz"
    stale.write_bytes(b"stale")
    second = run(raw)
    assert [s["sha256"] for s in first["shards"]] == [s["sha256"] for s in second["shards"]]
    assert first["run_id"] == second["run_id"]
    assert not stale.exists()
    assert sum(s["rows"] for s in second["shards"]) == 1000


def test_empty_input_gives_an_empty_committed_output(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    manifest = run({"name": "empty", "inputs": [{"uri": str(tmp_path / "empty.jsonl")}],
                    "output": {"uri": str(tmp_path / "out")}, "stages": ["normalize"]})
    assert manifest["counts"] == {"input": 0, "output": 0, "rejected": 0}
    assert (tmp_path / "out" / "_manifest.json").exists()


def test_same_file_listed_twice_is_counted_twice(data_dir, tmp_path):
    sample = str(data_dir / "self-instruct/user_oriented_instructions.jsonl")
    manifest = run({"name": "twice", "lang": "en",
                    "inputs": [{"uri": sample}, {"uri": sample}, {"uri": sample, "lang": "xx"}],
                    "output": {"uri": str(tmp_path / "out")}, "ray": {"batch_rows": 50}, "stages": ["normalize"]})
    rows = published_rows(tmp_path / "out")
    per_listing = sum(len(json.loads(line)["instances"]) for line in open(sample))
    assert manifest["counts"]["input"] == 3 * per_listing
    assert manifest["counts"]["output"] == len(rows) == 3 * per_listing
    assert len({r["source"] for r in rows}) == len(rows)
    assert any(r["source"].startswith(sample + "[1]:") for r in rows)


def test_inspect_summarises_a_release_and_refuses_a_non_release(tmp_path, capsys):
    from pipelines.__main__ import main
    (tmp_path / "in.jsonl").write_text('{"instruction": "a"}\n{"instruction": ""}\n')
    run({"name": "insp", "inputs": [{"uri": str(tmp_path / "in.jsonl")}], "output": {"uri": str(tmp_path / "out")},
         "stages": ["normalize"]})
    assert main(["inspect", str(tmp_path / "out")]) == 0
    shown = capsys.readouterr().out
    assert "normalize" in shown and "empty_instruction=1" in shown and "output 1, rejected 1" in shown
    assert main(["inspect", str(tmp_path)]) == 2
