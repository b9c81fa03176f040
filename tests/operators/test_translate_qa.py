"""Translation QA, reply parsing and number comparison: pure functions, no server, no Ray."""
import pytest

from operators.translate_qa.checks import TranslationQAConfig, check_field, check_row
from operators.translate_qa.numbers import lost_numbers, parse_chinese_numeral
from operators.translate_qa.reply import parse_reply, refusal, wants_json_mode
from operators.translate_qa.spans import code_spans, protected

QA = TranslationQAConfig()


def verdict(source, translation, **cfg):
    return check_field(source, translation, "zh", TranslationQAConfig(**cfg), source_lang="en")[0]


@pytest.mark.parametrize("source,translation", [
    ("2.5 million square km and 1,500 meters deep", "面积250万平方公里，水深1500米"),
    ("over 100 million people", "超过 1 亿人"),
    ("Summarize it in 3 sentences.", "用三句话概括。"),
    ("the 5th Avenue", "第五大道"),
    ("Born 05/18/1995", "生于1995年5月18日"),
    ("CO2 levels rose", "二氧化碳水平上升"),
])
def test_numbers_rewritten_the_usual_ways_are_kept(source, translation):
    assert lost_numbers(source, translation) == []


def test_altered_or_dropped_numbers_are_lost():
    assert lost_numbers("It takes 4 to 5 hours to read 100 pages", "阅读100页需要6到5个小时") == ["4"]
    assert lost_numbers("x = 25", "x = 52") == ["25"]
    assert parse_chinese_numeral("二百零五") == 205 and parse_chinese_numeral("一万二千") == 12000


def test_code_spans_protect_code_and_markup_tags_not_prose():
    assert code_spans("Distance = 50 meters, Time = 10 seconds") == []
    assert code_spans("y = len(items)") == ["y = len(items)"]
    assert code_spans('<p class="a">Hello world</p>') == ['<p class="a">', "</p>"]
    assert code_spans("Use `len(x)` here") == ["len(x)"]
    spans = protected("See https://example.com/x, then:\n```py\nprint(1)\n```")
    assert spans.urls == ["https://example.com/x"] and spans.code == ["print(1)\n"]


@pytest.mark.parametrize("source,translation,reason", [
    ("Give three tips for staying healthy.", "", "empty"),
    ("Give three tips for staying healthy.", "Give three tips for staying healthy.", "untranslated"),
    ("Give three tips for staying healthy.", "これはテスト用の日本語の文章です。", "wrong_language"),
    ("Run this:\n```py\nprint('hi')\n```", "运行这个：", "lost_code"),
    ("Read https://example.com/a first.", "先阅读这个网页。", "lost_url"),
    ("List 7 colours of the rainbow.", "列出彩虹的8种颜色。", "lost_number"),
    ("Fill in {name} and {date} please.", "请填写姓名和日期。", "lost_placeholder"),
    ("Apples\nPears\nPlums", "苹果 梨 李子", "lost_lines"),
    ("Describe the history of the Roman Empire in one long and detailed paragraph.", "罗马", "length_ratio"),
])
def test_each_check_has_its_reason(source, translation, reason):
    assert verdict(source, translation) == reason


@pytest.mark.parametrize("source,translation", [
    ("Give three tips for staying healthy.", "给出保持健康的三个建议。"),
    ("print('Hello World')", "print('Hello World')"),  # code stays as it is
    ("Halo Burger", "Halo Burger"),  # a name of two words
    ("SELECT * FROM customers;", "SELECT * FROM customers;"),
    ("b1jK90mh, h6Kf52sz, S6@l97Ad", "b1jK90mh， h6Kf52sz， S6@l97Ad"),
])
def test_good_and_legitimately_unchanged_fields_pass(source, translation):
    assert verdict(source, translation) is None


def test_translation_tasks_keep_their_foreign_text():
    source = {"instruction": "Translate the sentence into Spanish.", "input": "I want to go to the beach."}
    same = {"instruction": "将这句话翻译成西班牙语。", "input": "I want to go to the beach."}
    assert check_row(source, dict(same), "zh", QA, "en").reason is None
    # Text in a third language is kept by any task.
    assert verdict("Vengo de un pueblo pequeño y muy bonito.", "Vengo de un pueblo pequeño y muy bonito.") is None


def test_traditional_is_converted_or_rejected_by_config():
    source = {"instruction": "Describe the Great Wall of China."}
    translated = {"instruction": "描述中國的長城。"}
    result = check_row(source, translated, "zh", QA, "en")
    assert result.reason is None and result.converted == ("instruction",)
    assert translated["instruction"] == "描述中国的长城。"
    rejected = check_row(source, {"instruction": "描述中國的長城。"}, "zh",
                         TranslationQAConfig(traditional="reject"), "en")
    assert rejected.reason == "traditional" and rejected.detail["field"] == "instruction"


@pytest.mark.parametrize("content", [
    '{"instruction": "甲", "input": "乙"}',
    '```json\n{"instruction": "甲", "input": "乙",}\n```',
    'Here you go: {"instruction": "甲", "input": "乙"} Hope it helps!',
    '{"instruction": "甲", "input": "乙"}\n',
])
def test_reply_parsing_is_robust(content):
    assert parse_reply(content, ["instruction", "input"]) == {"instruction": "甲", "input": "乙"}


def test_unescaped_quotes_are_salvaged_and_broken_replies_are_not():
    assert parse_reply('{"instruction": "他说"你好"", "input": "乙"}', ["instruction", "input"]) == {
        "instruction": '他说"你好"', "input": "乙"}
    assert parse_reply('{"instruction": "甲", "input": "乙', ["instruction", "input"]) is None
    assert parse_reply('{"instruction": "甲"}', ["instruction", "input"]) is None
    assert refusal("I'm sorry, but I can't help with that.") and refusal("好的") is None
    assert refusal("很抱歉，我无法翻译这段文字。")


def test_json_mode_only_where_the_model_supports_it():
    assert wants_json_mode("auto", "gpt-4o") and not wants_json_mode("auto", "gpt-4")
    assert not wants_json_mode("none", "gpt-4o") and wants_json_mode("json_object", "gpt-4")
