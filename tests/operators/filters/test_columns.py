"""The whole-column helpers agree with the per-row reference definitions, odd text included."""
import random

import pyarrow as pa
import pyarrow.compute as pc

from operators.filters import columns, fastlang
from tests.operators.filters import reference
from operators.filters.fastlang import identify_column
from operators.filters.langid import identify
from operators.filters.length import text_length
from operators.filters.script import CODE_LINE_RE

ODD = ["", " ", "\x1c\x1d", "a\x1cb c", "\u3000中文\u3000", "Give three tips.", "给出三个建议。", "😀" * 5,
       "x = 1; y = 2;", "https://example.com is a site", "Café au lait, s'il vous plaît.", "Привет мир",
       "Java、Python 和 JavaScript。", "  \n\t ", "12345", "İstanbul KELVIN", "a" * 3000, "中" * 2500 + "b" * 10]


def _texts():
    rng = random.Random(11)
    ranges = [(1, 0x80), (0x80, 0x3100), (0x4e00, 0x4f00)]
    noise = ["".join(chr(rng.randrange(*rng.choice(ranges))) for _ in range(rng.randrange(0, 40))) for _ in range(300)]
    return ODD + noise


def test_identify_column_matches_identify():
    texts = _texts()
    langs, methods, _ = identify_column(pa.array(texts), 500)
    for i, text in enumerate(texts):
        expected = identify(text, 500)
        method = methods.get(i) or ("empty" if langs[i] == "und" else "script")
        assert (langs[i], method) == expected, text


def test_lengths_guess_and_fields_match_reference():
    texts = _texts()
    array = pa.array(texts)
    guessed = columns.guess_lang_array(array).to_pylist()
    assert guessed == [reference.guess_lang_by_script(t) for t in texts]
    by_chars = [g == "zh" for g in guessed]
    assert columns.text_lengths(array, pa.array(by_chars)).tolist() == \
        [text_length(t, "zh" if c else "en") for t, c in zip(texts, by_chars)]
    table = pa.table({"output": pa.array(["a", None, "b"]), "input": pa.array([1, None, 2]),
                      "lang": pa.array(["zh-CN", None, "en_US"])})
    for name, optional in (("output", False), ("input", True), ("instruction", False), ("instruction", True)):
        array, problems = columns.field_array(table, name, optional)
        texts_ref, problems_ref = reference.read_field(table, name, optional)
        assert array.to_pylist() == texts_ref and (problems or [None] * 3) == problems_ref
    for default in (None, "zh-TW"):
        assert columns.row_lang_array(table, default).to_pylist() == reference.row_langs(table, default)


def test_code_line_pattern_matches_like_python_on_ascii_text():
    rng = random.Random(4)
    pieces = ["x = 1", "if (a)", "for i in range(3):", "return x;", "}", " ", "\n", "\x0b", "\x1c", "\t", "a", "Note:",
              "(see below)", "<b>", "// c", "def f", "SELECT *", "a == b", "=", ";", ":", "{", "<", "y"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12))) for _ in range(2000)]
    found = pc.match_substring_regex(pa.array(texts), fastlang._CODE_LINE_ASCII).to_pylist()
    assert found == [CODE_LINE_RE.search(t) is not None for t in texts]
    langs, methods, _ = identify_column(pa.array(texts), 500)
    for i, text in enumerate(texts):
        assert (langs[i], methods.get(i) or ("empty" if langs[i] == "und" else "script")) == identify(text, 500), text
