import random

import pytest
from langdetect import DetectorFactory

from operators.filters import langid
from operators.filters.langid import identify, normalize_lang


@pytest.mark.parametrize("text, lang", [
    ("Give three tips for staying healthy.", "en"),
    ("给出保持健康的三个建议。", "zh"),
    ("请用Python写一个排序函数，并解释它的时间复杂度。", "zh"),
    ("Java、Python 和 JavaScript。", "zh"),
    ("Facebook，Twitter，Instagram，Snapchat。", "zh"),
    ("The Chinese for 'hello' is 你好 (nǐ hǎo), a common greeting used every day.", "en"),
    ("私の名前は何ですか？", "ja"),
    ("안녕하세요, 만나서 반갑습니다.", "ko"),
    ("La vie est un marathon, pas un sprint, et il faut le savoir.", "fr"),
    ("Das ist nicht gut und wir sind nicht sicher, ob er das auch weiß.", "de"),
    ("Apple, Banana, Orange, Plum", "en"),
    ("Los Angeles Lakers won the NBA Finals.", "en"),
    ("Привет, как дела? Я очень рад тебя видеть сегодня.", "ru"),
])
def test_identify(text, lang):
    assert identify(text)[0] == lang


@pytest.mark.parametrize("text, method", [
    ("", "empty"), ("   \n", "empty"), ("2 + 3 = 5。", "nolang"), ("$300,000", "nolang"),
    ("😀😀🎉", "nolang"), ("x + y = 6", "short"),
    ("def add(x, y):\n    return x + y\n\nprint(add(1, 2))", "code"),
    ("for (int i = 0; i < n; i++) {\n  sum += a[i];\n}", "code"),
])
def test_no_language_fields_are_not_checked(text, method):
    assert identify(text) == ("und", method)


@pytest.mark.parametrize("text", [
    "\x00\x01\x02\x1b[31m", "🙂" * 1000, "a" * 1_000_000, "中文 English mixed 日本語 한국어 " * 5000,
    "\u200b\ufeff", "\ud7ff\ue000", "ab" * 10 + "\x7f", "🤖 " + "😀" * 10 + " ok",
])
def test_identify_never_raises_on_odd_text(text):
    lang, method = identify(text)
    assert isinstance(lang, str) and isinstance(method, str)


def test_langdetect_fallback_is_seeded_and_deterministic():
    text = "Wo ist der Laden? Ich weiss es nicht."  # goes to the fallback
    langid.ensure_seeded()
    assert DetectorFactory.seed == 0
    first = [langid.langdetect_probabilities(text) for _ in range(3)]
    assert first[0] and all(p == first[0] for p in first)
    assert langid.langdetect_probabilities("") == []  # no features: no exception


def test_normalize_lang():
    assert [normalize_lang(c) for c in ("zh-cn", "zh-TW", "zh_Hant", "en-US", "English", "", None)] == \
        ["zh", "zh", "zh", "en", "en", "", ""]
    assert langid.plain_langdetect("🙂") == "und"


def test_random_unicode_never_raises():
    rng = random.Random(7)
    for _ in range(200):
        text = "".join(chr(rng.randrange(1, 0x2FFFF)) for _ in range(rng.randrange(1, 60)))
        identify(text)
