import pyarrow as pa

from operators.schema import RECORD_SCHEMA, conform, loads_meta, make_record, record_id, update_meta


def test_id_is_stable_under_spacing_and_width_but_not_language():
    assert record_id("Add  2 and 3", "", "en") == record_id(" Add 2 and 3 ", "", "en")
    assert record_id("ＡＢＣ", "", "en") == record_id("ABC", "", "en")
    assert record_id("Add 2 and 3", "", "en") != record_id("Add 2 and 3", "", "zh")
    assert record_id("Add 2 and 3", "x", "en") != record_id("Add 2 and 3", "", "en")
    assert len(record_id("a", "", "")) == 32


def test_conform_orders_columns_fills_nulls_and_keeps_extras():
    table = pa.table({"score": [1.0], "instruction": ["x"]})
    out = conform(table, RECORD_SCHEMA)
    assert out.column_names[: len(RECORD_SCHEMA)] == RECORD_SCHEMA.names
    assert out.column_names[-1] == "score"
    assert out.column("id").to_pylist() == [None]


def test_update_meta_merges_and_tolerates_bad_json():
    metas = update_meta(['{"a": 1}', "not json", None], [{"b": 2}, {"c": 3}, None])
    assert loads_meta(metas[0].as_py()) == {"a": 1, "b": 2}
    assert loads_meta(metas[1].as_py()) == {"unparsed_meta": "not json", "c": 3}
    assert metas[2].as_py() == "{}"


def test_make_record_fills_every_field():
    rec = make_record("Do it", source="f:1", meta={"k": "v"})
    assert set(rec) == set(RECORD_SCHEMA.names)
    assert loads_meta(rec["meta"]) == {"k": "v"}
