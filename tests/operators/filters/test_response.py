import pytest

from operators.filters.response import ResponseFilter, ResponseFilterConfig, repetition_ratio
from tests.operators.filters.helpers import reasons

GOOD = "The three primary colours are red, blue and yellow."
LOOP = "I think that this is the answer. " * 30

CASES = [
    ({"output": GOOD}, None),
    ({"output": "   \n"}, "empty"),
    ({"output": ""}, "empty"),
    ({"output": "<noinput>\nThe answer is 42."}, "template_leak"),
    ({"output": "### Instruction:\nSay hi.\n### Response: hi"}, "template_leak"),
    ({"output": "Input: the cat sat on the mat."}, "template_leak"),
    ({"input": "<noinput>", "output": GOOD}, "template_leak"),
    ({"output": "输入：一只猫。"}, "template_leak"),
    ({"input": "The cat sat on the mat.", "output": "the cat sat  on the mat."}, "output_equals_input"),
    ({"output": "As an AI language model, I don't have personal opinions."}, "refusal"),
    ({"output": "I’m sorry, but I cannot help with that request."}, "refusal"),
    ({"output": "作为一个AI语言模型，我没有个人观点。"}, "refusal"),
    ({"output": "很抱歉，我无法回答这个问题。"}, "refusal"),
    ({"output": GOOD, "meta": {"finish_reason": "length"}}, "truncated"),
    ({"output": GOOD, "meta": {"llm": {"finish_reason": "length"}}}, "truncated"),
    ({"output": GOOD, "meta": {"finish_reason": "stop"}}, None),
    ({"output": "Here is the code:\n```python\nprint('hi')\n"}, "truncated"),
    ({"output": "Here is the code:\n```python\nprint('hi')\n```"}, None),
    ({"output": LOOP}, "repetition"),
    ({"output": "我认为这是答案。" * 40, "lang": "zh"}, "repetition"),
]


@pytest.mark.parametrize("row, reason", CASES)
def test_reasons(row, reason):
    row = {"instruction": "Answer the question.", **row}
    assert reasons(ResponseFilter(), [row]) == [reason]


def test_repetition_ratio():
    assert repetition_ratio("a b c", 2, 1) == 0.0
    assert repetition_ratio(LOOP, 4, 20) > 0.9
    assert repetition_ratio(GOOD * 1, 4, 5) == 0.0


def test_refusal_list_is_configurable():
    cfg = ResponseFilterConfig(refusal_phrases=("no comment",))
    rows = [{"instruction": "Say something.", "output": "No comment."},
            {"instruction": "Say something.", "output": "As an AI language model, hi."}]
    assert reasons(ResponseFilter(cfg), rows) == ["refusal", None]
