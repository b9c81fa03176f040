"""Acceptance checks on the real data in ../shared/data (skipped when it is absent)."""
import gzip
import itertools
import json
from collections import Counter

import pyarrow as pa

from operators.base import StageContext, run_operator
from operators.filters.langid import UND, identify
from operators.registry import get_operator
from operators.schema import make_record, records_to_table

FILTERS = ("response_filter", "language_filter", "instruction_filter", "length_filter")


def ops():
    return [get_operator(name)(context=StageContext(stage=name)) for name in FILTERS]


def run_all(table: pa.Table) -> tuple[pa.Table, dict]:
    counts = {}
    for op in ops():
        table, counts[op.name] = run_operator(op, table)
    return table, counts


def test_belle_empty_answers_rejected_as_empty(data_dir):
    rows = [json.loads(line) for line in open(data_dir / "belle" / "eval_set.jsonl", encoding="utf-8")]
    table = records_to_table(make_record(r["question"], "", r["std_answer"], source=f"belle:{i}")
                             for i, r in enumerate(rows))
    result, count = run_operator(ops()[0], table)
    assert count.reasons["empty"] == 369
    empty_sources = {f"belle:{i}" for i, r in enumerate(rows) if not r["std_answer"].strip()}
    rejected = {s for s, r in zip(result.column("source").to_pylist(), result.column("reason").to_pylist())
                if r == "empty"}
    assert rejected == empty_sources


def test_traditional_output_in_gpt4_zh_sample_is_flagged(data_dir):
    rows = json.loads((data_dir / "gpt4-llm-samples" / "alpaca_gpt4_zh_sample.json").read_text(encoding="utf-8"))
    table = records_to_table(make_record(r["instruction"], r["input"], r["output"], source=f"zh:{i}")
                             for i, r in enumerate(rows))
    op = get_operator("language_filter")(context=StageContext(stage="language_filter"))
    result, count = run_operator(op, table)
    assert count.reasons["traditional_chinese"] == 1
    flagged = [o for o, r in zip(result.column("output").to_pylist(), result.column("reason").to_pylist())
               if r == "traditional_chinese"]
    assert "工作分析是一項系統化的過程" in flagged[0]
    assert set(result.column("lang").to_pylist()) == {"zh"}  # detected from the instructions


def _parallel(data_dir, n):
    with gzip.open(data_dir / "alpaca_parallel_en_zh_52k.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in itertools.islice(f, n)]


def test_language_accuracy_on_parallel_sample(data_dir):
    texts = [(r[f"{lang}_{field}"], lang) for r in _parallel(data_dir, 4000) for field in ("instruction", "output")
             for lang in ("en", "zh") if r[f"en_{field}"] != r[f"zh_{field}"] and r[f"{lang}_{field}"].strip()]
    detected = [identify(text)[0] for text, _ in texts]
    strict = sum(d == e for d, (_, e) in zip(detected, texts)) / len(texts)
    kept = sum(d in (e, UND) for d, (_, e) in zip(detected, texts)) / len(texts)
    assert strict >= 0.995 and kept >= 0.998


def test_every_row_kept_or_rejected_with_exactly_one_reason(data_dir):
    rows = _parallel(data_dir, 1500)
    records = [make_record(r[f"{lang}_instruction"], r[f"{lang}_input"], r[f"{lang}_output"], lang=lang,
                           source=f"p:{i}:{lang}") for i, r in enumerate(rows) for lang in ("en", "zh")]
    odd = ["", "   ", "😀" * 50, "\x00\x1b[0m", "a" * 1_000_000, "中文 English 日本語 한국어 " * 100, "<noinput>"]
    records += [make_record(text, odd[(k + 1) % len(odd)], odd[(k + 2) % len(odd)], lang=lang, source=f"odd:{k}:{lang}")
                for k, text in enumerate(odd) for lang in ("", "en", "zh", "fr")]
    long_output = " ".join(f"item{i}" for i in range(9000))  # only the length filter objects
    records.append(make_record("List nine thousand distinct items.", "", long_output, lang="en", source="long"))
    table = records_to_table(records)
    result, counts = run_all(table)
    assert sorted(result.column("source").to_pylist()) == sorted(r["source"] for r in records)
    reasons = result.column("reason").to_pylist()
    stages = result.column("stage").to_pylist()
    for reason, stage in zip(reasons, stages):
        assert (reason is None) == (stage is None)
        if reason is not None:
            assert stage in FILTERS and reason.strip() and "," not in reason and ";" not in reason
    per_stage = Counter(s for s in stages if s)
    rows_in = len(records)
    for name in FILTERS:
        c = counts[name]
        assert c.rows_in == rows_in and c.rows_in == c.rows_out + c.rejected and c.rejected == per_stage[name]
        assert sum(c.reasons.values()) == c.rejected
        rows_in = c.rows_out
    assert len(per_stage) == len(FILTERS)  # every filter rejected something on this mix
