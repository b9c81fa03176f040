from operators.filters.length import LengthFilter, LengthFilterConfig, text_length
from operators.base import run_operator
from tests.operators.filters.helpers import reasons, table


def test_units():
    assert text_length("one two  three\nfour", "en") == 4
    assert text_length("给出 保持健康的\n三个建议。", "zh") == 12


def test_reasons_per_field_and_language():
    cfg = LengthFilterConfig(limits={"en": {"output": {"min": 3, "max": 10}},
                                     "zh": {"output": {"min": 5, "max": 12}}})
    op = LengthFilter(cfg)
    rows = [
        {"instruction": "Name a colour.", "output": "Red is a primary colour.", "lang": "en"},
        {"instruction": "Name a colour.", "output": "Red.", "lang": "en"},
        {"instruction": "Name a colour.", "output": "word " * 11, "lang": "en"},
        {"instruction": "说出一种颜色。", "output": "红色是三原色之一。", "lang": "zh"},
        {"instruction": "说出一种颜色。", "output": "红色。", "lang": "zh"},
        {"instruction": "说出一种颜色。", "output": "红色是三原色之一，也是最常见的颜色。", "lang": "zh"},
        {"instruction": "", "output": "Red is a primary colour.", "lang": "en"},
        {"instruction": "说出一种颜色。", "output": "红色。"},  # no lang: Han script -> characters
    ]
    assert reasons(op, rows) == [None, "too_short:output", "too_long:output", None, "too_short:output",
                                 "too_long:output", "too_short:instruction", "too_short:output"]


def test_defaults_are_merged_and_scores_kept():
    cfg = LengthFilterConfig(limits={"en": {"output": {"min": 2}}}, keep_scores=True)
    assert cfg.limits["zh"]["output"].min == 1 and cfg.limits["en"]["instruction"].max == 1000
    result, _ = run_operator(LengthFilter(cfg), table([{"instruction": "Say hi.", "output": "Hi there", "lang": "en"}]))
    assert result.column("len_output").to_pylist() == [2]
    assert result.column("len_instruction").to_pylist() == [2]
