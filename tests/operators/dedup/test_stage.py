"""The global dedup stage on a real Ray: accounting, real data, determinism, incremental index."""
from __future__ import annotations

import collections
import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from operators.base import StageContext
from operators.dedup.index import read_index_table
from operators.dedup.stage import Dedup, DedupConfig
from operators.schema import make_record, records_to_table
from pipelines.engine import RayEngine
from tests.operators.dedup.dedup_corpus import instructions, table


def run(ray, data: pa.Table, blocks: int = 1, **config) -> tuple[pa.Table, Dedup]:
    op = Dedup(DedupConfig(**config), StageContext("dedup"))
    ds = ray.data.from_arrow(data)
    ds = ds.repartition(blocks) if blocks > 1 else ds
    out = op.apply(ds, RayEngine())
    return pa.concat_tables([ray.get(ref) for ref in out.to_arrow_refs()]), op


def kept_ids(out: pa.Table) -> list[str]:
    live = out.filter(out.column("reason").is_null())
    return sorted(live.column("source").to_pylist())


def load_sample(data_dir, name: str) -> pa.Table:
    rows = json.loads((data_dir / "gpt4-llm-samples" / f"alpaca_gpt4_{name}_sample.json").read_text())
    return records_to_table(make_record(r["instruction"], r["input"], r["output"], name,
                                        f"alpaca_{name}.json:{i + 1}") for i, r in enumerate(rows))


def test_real_samples_lose_their_exact_duplicates(ray_session, data_dir):
    data = pa.concat_tables([load_sample(data_dir, "en"), load_sample(data_dir, "zh")])
    out, _ = run(ray_session, data, blocks=3)
    assert out.num_rows == data.num_rows
    exact = out.filter(pc.equal(out.column("reason"), "exact_duplicate"))
    by_lang = collections.Counter(exact.column("lang").to_pylist())
    assert by_lang == {"en": 14, "zh": 8}
    for row in exact.to_pylist():
        detail = json.loads(row["detail"])
        assert detail["similarity"] == 1.0 and row["stage"] == "dedup"
        keeper = out.filter(pc.equal(out.column("id"), detail["duplicate_of"])).to_pylist()
        assert any(k["reason"] is None and k["instruction"] == row["instruction"] for k in keeper)


def test_earlier_rejects_pass_through_and_every_row_comes_out_once(ray_session):
    rows = [make_record(t, "", "o", "en", f"f.jsonl:{i + 1}") for i, t in enumerate(
        ["Write a poem about the sea.", "Write a poem about the sea!", "   ", "Write a poem about the sea."])]
    data = records_to_table(rows)
    data = data.append_column("reason", pa.array([None, None, None, "too_short"]))
    data = data.append_column("stage", pa.array([None, None, None, "length"]))
    data = data.append_column("detail", pa.array([None, None, None, None], pa.string()))
    out, _ = run(ray_session, data)
    got = {r["source"]: (r["reason"], r["stage"]) for r in out.to_pylist()}
    assert got == {"f.jsonl:1": (None, None), "f.jsonl:2": ("exact_duplicate", "dedup"),
                   "f.jsonl:3": ("empty_text", "dedup"), "f.jsonl:4": ("too_short", "length")}
    assert not any(c.startswith("_dd_") for c in out.column_names)


def test_instruction_and_input_must_both_be_near_duplicates(ray_session):
    abstract = "A long shared abstract about photosynthesis in plants and algae. " * 3
    rows = [make_record("Summarize the abstract.", abstract, "", "en", "f:1"),
            make_record("List the keywords of the abstract.", abstract, "", "en", "f:2"),
            make_record("Find the median of 2, 5, 4, 7.", "", "", "en", "f:3"),
            make_record("Find the median of 7, 8, 12, 15, 22.", "", "", "en", "f:4")]
    out, _ = run(ray_session, records_to_table(rows))
    assert out.column("reason").null_count == 4


def test_same_kept_rows_for_one_block_and_many_and_band_groups(ray_session):
    data = table(instructions(1500, seed=3))
    one, _ = run(ray_session, data, blocks=1)
    many, _ = run(ray_session, data, blocks=9, band_groups=3)
    assert kept_ids(one) == kept_ids(many)
    assert one.column("detail").to_pylist() != [None] * one.num_rows
    assert sorted(one.column("detail").drop_null().to_pylist()) == sorted(many.column("detail").drop_null().to_pylist())


def test_incremental_against_saved_index_equals_combined(ray_session, tmp_path):
    texts = instructions(1600, seed=5)
    first, second = table(texts[:800], "a.jsonl"), table(texts[800:], "b.jsonl", start=801)
    combined, _ = run(ray_session, pa.concat_tables([first, second]), blocks=2)
    _, op1 = run(ray_session, first)
    index = str(tmp_path / "release1" / "_dedup_index")
    op1.write_index(index)
    stored = read_index_table(index)
    assert stored.num_rows == 800 and not all(stored.column("published").to_pylist())
    later, _ = run(ray_session, second, blocks=2, against=(index,))
    expected = [s for s in kept_ids(combined) if s.startswith("b.jsonl")]
    assert kept_ids(later) == expected
    assert later.filter(later.column("reason").is_valid()).num_rows > 0


def test_index_on_s3(ray_session, s3_bucket):
    data = table(instructions(300, seed=9))
    _, op = run(ray_session, data)
    uri = f"s3://{s3_bucket}/release/_dedup_index"
    op.write_index(uri)
    again, _ = run(ray_session, data, against=(uri,))
    assert again.column("reason").null_count == 0  # every row duplicates the published release


def test_against_index_with_other_parameters_is_refused(ray_session, tmp_path):
    data = table(instructions(50, seed=1))
    _, op = run(ray_session, data)
    op.write_index(str(tmp_path / "idx"))
    with pytest.raises(ValueError, match="signed differently"):
        run(ray_session, data, against=(str(tmp_path / "idx"),), ngram=3)


def _removals(out: pa.Table, prefix: str) -> dict[str, tuple[str, str]]:
    rows = out.filter(pc.starts_with(out.column("source"), prefix)).to_pylist()
    return {r["source"]: (r["reason"], json.loads(r["detail"])["duplicate_of"]) for r in rows if r["reason"]}


def test_third_release_against_two_indexes_decides_as_one_combined_run(ray_session, tmp_path):
    """Only the pinned rows that share a bucket or an exact key with a new row are read (pinned.py);
    the kept rows, reasons and keepers are those of one run over all three parts."""
    texts = instructions(2400, seed=11)
    parts = [table(texts[i * 800:(i + 1) * 800], f"{name}.jsonl", start=i * 800 + 1)
             for i, name in enumerate("abc")]
    combined, _ = run(ray_session, pa.concat_tables(parts), blocks=3)
    indexes = []
    for n, part in enumerate(parts):
        out, op = run(ray_session, part, blocks=2, against=tuple(indexes))
        if n < 2:
            indexes.append(str(tmp_path / f"release{n}" / "_dedup_index"))
            op.write_index(indexes[-1])
    assert kept_ids(out) == [s for s in kept_ids(combined) if s.startswith("c.jsonl")]
    assert _removals(out, "c.jsonl") == _removals(combined, "c.jsonl") != {}


def test_index_banded_for_another_threshold_is_rebanded_from_its_signatures(ray_session, tmp_path):
    from operators.dedup import pinned
    data = table(instructions(400, seed=4))
    _, op = run(ray_session, data)
    op.write_index(str(tmp_path / "idx"))
    files = pinned.index_files((str(tmp_path / "idx"),), op.params)
    assert files and all(stored for *_, stored in files)
    other = Dedup(DedupConfig(threshold=0.5), StageContext("dedup"))
    assert (other.bands, other.rows) != (op.bands, op.rows)
    assert not any(stored for *_, stored in pinned.index_files((str(tmp_path / "idx"),), other.params))
    probe_rows = data.slice(0, 40)
    params = {"bands": op.bands, "rows": op.rows, "num_fields": op.num_fields, "num_perm": 128, "near": True}
    from operators.dedup import batches, graph
    nodes = batches.prepare(probe_rows, fields=op.config.fields, combined=False, hasher=op.hasher,
                            keep="first", stage="dedup").select(list(batches.INTERNAL))
    probe = pinned.probe([graph.key_rows(nodes, band_range=(0, op.bands), **params)])
    for spec in files:
        stored = pinned.matches(spec, probe, **params)
        rebanded = pinned.matches(spec[:3] + (False,), probe, **params)
        assert stored[0].equals(rebanded[0]) and stored[2] == rebanded[2]
    assert sum(pinned.matches(spec, probe, **params)[2] for spec in files) >= 40
