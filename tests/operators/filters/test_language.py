import json

import pyarrow as pa

from operators.base import StageContext, run_operator
from operators.filters.language import LanguageFilter, LanguageFilterConfig
from tests.operators.filters.helpers import details, reasons, table

EN_OUT = "Eat a balanced diet, exercise regularly and get enough sleep every night."
ZH_OUT = "均衡饮食，定期锻炼，保持充足的睡眠。"
TRAD_OUT = "這個月，我會讀一本書，以增加我在某個領域的知識。"


def op(**kwargs):
    return LanguageFilter(LanguageFilterConfig(**kwargs), StageContext(stage="language"))


def test_reasons():
    rows = [
        {"instruction": "Give three tips for staying healthy.", "output": EN_OUT, "lang": "en"},
        {"instruction": "给出保持健康的三个建议。", "output": ZH_OUT, "lang": "zh"},
        {"instruction": "给出保持健康的三个建议。", "output": EN_OUT, "lang": "zh"},
        {"instruction": "Give three tips for staying healthy.", "output": ZH_OUT, "lang": "en"},
        {"instruction": "给出保持健康的三个建议。", "output": ZH_OUT, "lang": "en"},
        {"instruction": "给出保持健康的三个建议。", "output": TRAD_OUT, "lang": "zh"},
        {"instruction": "Donne trois conseils pour rester en bonne santé.", "output": EN_OUT, "lang": "fr"},
        {"instruction": "Summarize the text.", "input": "这是一段很长的中文文本，讲述了一个故事。", "output": EN_OUT,
         "lang": "en"},
        {"instruction": "Translate into Chinese: good morning, how are you today?", "output": "早上好，你今天好吗？",
         "lang": "en"},
        {"instruction": "Compute 2 + 3.", "output": "5", "lang": "en"},
        {"instruction": "用Python写一个加法函数。", "output": "def add(a, b):\n    return a + b", "lang": "zh"},
    ]
    assert reasons(op(), rows) == [
        None, None, "wrong_language:output", "wrong_language:output", "wrong_language:instruction",
        "traditional_chinese", "unsupported_language", "wrong_language:input", None, None, None]


def test_expected_language_from_config_then_detection():
    rows = [{"instruction": "给出保持健康的三个建议。", "output": ZH_OUT},
            {"instruction": "Give three tips for staying healthy.", "output": EN_OUT},
            {"instruction": "Give three tips for staying healthy.", "output": ZH_OUT},
            {"instruction": "2 + 2", "output": "4"}]
    assert reasons(op(lang="zh"), rows) == [None, "wrong_language:instruction", "wrong_language:instruction", None]
    result, _ = run_operator(op(), table(rows))
    assert result.column("lang").to_pylist() == ["zh", "en", "en", ""]
    assert result.column("reason").to_pylist() == [None, None, "wrong_language:output", None]
    assert details(result)[2] == {"field": "output", "detected": "zh", "expected": "en", "method": "script"}


def test_lang_column_is_normalised_for_comparison():
    rows = [{"instruction": "给出保持健康的三个建议。", "output": ZH_OUT, "lang": "zh-CN"},
            {"instruction": "Give three tips for staying healthy.", "output": EN_OUT, "lang": "en-US"}]
    assert reasons(op(), rows) == [None, None]


def test_traditional_convert_keeps_row_and_records_it():
    rows = [{"instruction": "给出保持健康的三个建议。", "output": TRAD_OUT, "lang": "zh"}]
    result, count = run_operator(op(traditional="convert"), table(rows))
    assert count.rejected == 0
    assert result.column("output")[0].as_py() == "这个月，我会读一本书，以增加我在某个领域的知识。"
    assert json.loads(result.column("meta")[0].as_py())["converted_t2s"] == ["output"]
    assert reasons(op(traditional="keep"), rows) == [None]


def test_scores_kept_or_dropped():
    rows = [{"instruction": "给出保持健康的三个建议。", "output": TRAD_OUT, "lang": "zh"}]
    kept, _ = run_operator(op(keep_scores=True), table(rows))
    assert kept.column("lang_instruction").to_pylist() == ["zh"]
    assert kept.column("lang_input").to_pylist() == ["und"]
    assert kept.column("trad_output")[0].as_py() > 0.2
    dropped, _ = run_operator(op(), table(rows))
    assert "lang_instruction" not in dropped.column_names


def test_missing_and_wrong_type_fields():
    base = table([{"instruction": "Give three tips for staying healthy.", "output": EN_OUT, "lang": "en"}] * 2)
    no_output = base.drop_columns(["output"])
    result = op()(no_output)
    assert result.column("reason").to_pylist() == ["missing_field:output"] * 2
    wrong = base.set_column(base.schema.get_field_index("input"), "input", pa.array([1, None], pa.int64()))
    assert op()(wrong).column("reason").to_pylist() == ["wrong_type:input", None]
    nulls = base.set_column(base.schema.get_field_index("output"), "output", pa.array([None, EN_OUT], pa.string()))
    assert op()(nulls).column("reason").to_pylist() == ["missing_field:output", None]
