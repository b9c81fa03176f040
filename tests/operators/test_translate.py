"""`translate` against the fake OpenAI server replaying real translations (real HTTP, no Ray)."""
import json

import pytest

from operators.base import StageContext, run_operator
from operators.schema import make_record, record_id, records_to_table
from operators.translate import Translate, TranslateConfig
from operators.filters.langid import identify
from operators.translate_qa.checks import TranslationQAConfig, check_row
from operators.translate_qa.spans import protected
from tests.support.llm_fixtures import endpoint_settings
from tests.support.openai_server import FakeOpenAI
from tests.support.translation_server import PARALLEL, TranslationReplay, _drop_code, load_parallel

pytestmark = pytest.mark.skipif(not PARALLEL.exists(), reason="shared data not found")
FIELDS = ("instruction", "input")


def _passes(row):
    source = {f: row[f"en_{f}"] for f in FIELDS if row[f"en_{f}"].strip()}
    return check_row(source, {f: row[f"zh_{f}"] for f in source}, "zh", TranslationQAConfig(), "en").reason is None


@pytest.fixture(scope="module")
def rows():
    """Real rows of the parallel set whose real translation passes QA, picked by what a fault needs."""
    table = load_parallel()
    picked, plain = {}, []
    for row in table["pair"].values():
        if not _passes(row) or len(row["en_instruction"]) < 30:
            continue
        spans = protected(row["en_input"])
        if ("code" not in picked and spans.code and identify(row["en_input"])[0] == "en"
                and identify(_drop_code(row["zh_input"]))[0] == "zh"):
            picked["code"] = row
        elif "number" not in picked and any(ch.isdigit() for ch in row["en_instruction"]) and not row["en_input"]:
            picked["number"] = row
        elif len(plain) < 12 and not row["en_input"] and row["en_instruction"].isascii():
            plain.append(row)
        if len(picked) == 2 and len(plain) == 12:
            break
    picked["plain"] = plain
    return picked


def table(pairs, lang="en"):
    return records_to_table(make_record(i, x, "old answer", lang, f"src:{n}") for n, (i, x) in enumerate(pairs))


def make_op(server, config=TranslateConfig(), **endpoint):
    settings = {"endpoint": endpoint_settings(server, **endpoint), "output_uri": None}
    return Translate(config, StageContext("translate", "test-run", settings))


def test_real_translations_pass_with_new_ids_and_lineage(rows):
    picked = rows["plain"][:6] + [rows["code"], rows["number"]]
    replay = TranslationReplay()
    with FakeOpenAI(answer_fn=replay) as server:
        out, count = run_operator(make_op(server, model="gpt-4o"), table(
            [(r["en_instruction"], r["en_input"]) for r in picked]))
    assert count.to_dict() == {"in": 8, "out": 8, "rejected": 0, "reasons": {}}
    assert replay.bodies[0]["response_format"] == {"type": "json_object"}
    assert json.loads(replay.bodies[0]["messages"][1]["content"]).keys() <= {"instruction", "input"}
    for row, source in zip(out.to_pylist(), picked):
        meta = json.loads(row["meta"])
        assert row["instruction"] == source["zh_instruction"] and row["input"] == source["zh_input"]
        assert row["lang"] == "zh" and row["output"] == ""  # the English answer is cleared
        assert row["id"] == record_id(source["zh_instruction"], source["zh_input"], "zh")
        assert meta["translated_from"] == record_id(source["en_instruction"], source["en_input"], "en")
        assert meta["translation"] == "translated" and meta["llm"]["translate"]["attempts"] == 1


FAULTS = {"wrong_language": "wrong_language", "echo": "untranslated", "drop_code": "lost_code",
          "change_number": "lost_number", "traditional": None, "invalid_json": "invalid_json",
          "refuse": "translation_refused", "empty": "empty"}


def test_each_fault_is_caught_with_its_reason_and_counts_balance(rows):
    plain = iter(rows["plain"])
    cases = []
    for fault in FAULTS:
        row = rows["code"] if fault == "drop_code" else rows["number"] if fault == "change_number" else next(plain)
        cases.append((fault, row))
    good = list(plain)
    replay = TranslationReplay(faults={r["en_instruction"]: f for f, r in cases})
    with FakeOpenAI(answer_fn=replay) as server:
        source = table([(r["en_instruction"], r["en_input"]) for _, r in cases]
                       + [(r["en_instruction"], r["en_input"]) for r in good])
        out, count = run_operator(make_op(server), source)
    assert count.rows_in == len(cases) + len(good) == count.rows_out + count.rejected
    results = out.to_pylist()
    for (fault, _), row in zip(cases, results):
        assert row["reason"] == FAULTS[fault], (fault, row["reason"], row["detail"])
    converted = json.loads(results[list(FAULTS).index("traditional")]["meta"])
    assert converted["converted_t2s"] == ["instruction"]
    assert [r["reason"] for r in results[len(cases):]] == [None] * len(good)
    assert replay.faults_sent == {f: 1 for f in FAULTS}


def test_traditional_can_be_rejected(rows):
    row = rows["plain"][0]
    config = TranslateConfig(qa=TranslationQAConfig(traditional="reject"))
    with FakeOpenAI(answer_fn=TranslationReplay(faults={row["en_instruction"]: "traditional"})) as server:
        out, _ = run_operator(make_op(server, config), table([(row["en_instruction"], row["en_input"])]))
    assert out.column("reason").to_pylist() == ["traditional"]


def test_rows_already_in_target_pass_unchanged_and_unpaid(rows):
    replay = TranslationReplay()
    source = table([("给我讲一个关于一棵神奇树的故事。", ""), ("print(1 + 2)", "")])
    with FakeOpenAI(answer_fn=replay) as server:
        out, count = run_operator(make_op(server), source)
        assert server.total == 0
    first, code = out.to_pylist()
    assert count.rejected == 0
    assert first["id"] == source.column("id")[0].as_py() and first["instruction"] == "给我讲一个关于一棵神奇树的故事。"
    assert first["output"] == "old answer" and first["lang"] == "zh"
    assert json.loads(first["meta"])["translation"] == "source_already_target"
    assert code["instruction"] == "print(1 + 2)" and json.loads(code["meta"])["translation"] == "no_language"


def test_output_translated_when_asked_and_rerun_is_free(rows, tmp_path):
    picked = rows["plain"][:3]
    pairs = [(r["en_instruction"], r["en_input"]) for r in picked]
    source = records_to_table(make_record(i, x, r["en_output"], "en", f"s{n}")
                              for n, ((i, x), r) in enumerate(zip(pairs, picked)))
    config = TranslateConfig(fields=("instruction", "input", "output"), qa=TranslationQAConfig(checks=("empty",)))
    cache = str(tmp_path / "cache")
    with FakeOpenAI(answer_fn=TranslationReplay()) as server:
        out, _ = run_operator(make_op(server, config, cache_uri=cache), source)
        again, _ = run_operator(make_op(server, config, cache_uri=cache), source)
        assert server.total == 3
    assert out.column("output").to_pylist() == [r["zh_output"] for r in picked]
    assert again.column("output").to_pylist() == out.column("output").to_pylist()
    assert all(json.loads(m)["llm"]["translate"]["cached"] for m in again.column("meta").to_pylist())


def test_api_failures_are_rejected_by_the_client_reason(rows):
    row = rows["plain"][0]
    with FakeOpenAI(answer_fn=TranslationReplay()) as server:
        out, count = run_operator(make_op(server, max_retries=1),
                                  table([(row["en_instruction"] + " [[fault:400]]", "")]))
    assert out.column("reason").to_pylist() == ["api_error:400"] and count.rejected == 1
    assert out.column("lang").to_pylist() == ["en"]  # untouched source row
