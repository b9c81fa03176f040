import json

from pipelines.io.formats import RowError
from pipelines.io.records import to_rows


def rows(obj, mapping=None, lang="en", keep=()):
    return list(to_rows(obj, "f.jsonl:7", mapping or {}, lang, keep))


def test_alpaca_record():
    (row,) = rows({"instruction": "Add", "input": "1 2", "output": "3"})
    assert (row["instruction"], row["input"], row["output"], row["lang"]) == ("Add", "1 2", "3", "en")
    assert row["reason"] is None and row["source"] == "f.jsonl:7"


def test_field_mapping_with_dotted_paths_and_kept_fields():
    obj = {"question": "问", "std_answer": "答", "class": "x", "metadata": {"score": 4}}
    (row,) = rows(obj, {"instruction": "question", "output": "std_answer"}, "zh", ("class", "metadata.score"))
    assert (row["instruction"], row["output"], row["lang"]) == ("问", "答", "zh")
    assert json.loads(row["meta"]) == {"extra": {"class": "x", "metadata.score": 4}}


def test_self_instruct_seed_gives_one_row_per_instance():
    seed = {"id": "seed_task_0", "instruction": "Solve", "instances": [
        {"input": "1+1", "output": "2"}, {"input": "2+2", "output": "4"}]}
    out = rows(seed)
    assert [(r["input"], r["output"], r["source"]) for r in out] == [
        ("1+1", "2", "f.jsonl:7#0"), ("2+2", "4", "f.jsonl:7#1")]


def test_bad_records_are_rejected_with_a_reason_and_raw_text():
    assert rows({"output": "x"})[0]["reason"] == "missing_field:instruction"
    assert rows({"instruction": None})[0]["reason"] == "missing_field:instruction"
    wrong = rows({"instruction": "a", "output": 5})[0]
    assert wrong["reason"] == "wrong_type:output" and json.loads(wrong["detail"])["got"] == "int"
    assert rows(["not", "a", "dict"])[0]["reason"] == "not_an_object"
    bad = rows(RowError("malformed_json", {"raw": "{oops"}))[0]
    assert bad["stage"] == "read" and json.loads(bad["detail"])["raw"] == "{oops"


def test_missing_optional_fields_default_to_empty():
    (row,) = rows({"instruction": "x", "input": None})
    assert row["input"] == "" and row["output"] == ""
