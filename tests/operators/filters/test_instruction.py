import pytest

from operators.filters.instruction import InstructionFilter, InstructionFilterConfig
from tests.operators.filters.helpers import reasons

CASES = [
    ("Give three tips for staying healthy.", "en", None),
    ("Summarize this.", "en", "too_short:instruction"),
    (" ".join(["word"] * 151), "en", "too_long:instruction"),
    ("Describe the image shown below in detail.", "en", "blacklist:image"),
    ("Please go to the website and report back.", "en", "blacklist:go to"),
    ("Create a flowchart of the hiring process.", "en", "blacklist:flowchart"),
    ("Describe the imagery used in this poem.", "en", None),  # whole words only
    ("Write a program that sorts a list.", "en", "write_a_program"),
    ("- List three tips for staying healthy.", "en", "starts_with_punctuation"),
    ("Ñame three popular dishes from Spain please.", "en", "starts_with_non_ascii"),
    ("给出保持健康的三个建议。", "zh", None),
    ("总结。", "zh", "too_short:instruction"),
    ("描述下面这张图片里的内容。", "zh", "blacklist:图片"),
    ("编写一个程序来对列表进行排序。", "zh", "write_a_program"),
    ("“给出保持健康的三个建议。", "zh", "starts_with_punctuation"),
    ("一" * 301, "zh", "too_long:instruction"),
]


@pytest.mark.parametrize("instruction, lang, reason", CASES)
def test_reasons(instruction, lang, reason):
    assert reasons(InstructionFilter(), [{"instruction": instruction, "output": "ok", "lang": lang}]) == [reason]


def test_language_guessed_from_script_when_unknown():
    rows = [{"instruction": "描述下面这张图片里的内容。"}, {"instruction": "Plot the data."}]
    assert reasons(InstructionFilter(), rows) == ["blacklist:图片", "too_short:instruction"]


def test_rules_merge_over_defaults():
    cfg = InstructionFilterConfig(rules={"en": {"blacklist": ["banana"]}})
    assert cfg.rules["en"].max_len == 150 and cfg.rules["zh"].blacklist
    rows = [{"instruction": "Describe the image of a banana.", "lang": "en"}]
    assert reasons(InstructionFilter(cfg), rows) == ["blacklist:banana"]
