import pytest

from operators.normalize import Normalize, NormalizeConfig, normalize_text
from operators.schema import make_record, records_to_table


@pytest.mark.parametrize("raw,expected", [
    ("  Hello world \t", "Hello world"),
    ("ｆｕｌｌｗｉｄｔｈ１２", "fullwidth12"),
    ("a\x00b\x1fc\u200bd\ufeff", "abcd"),
    ("line1\r\nline2\r\n\n\n\nline3", "line1\nline2\n\nline3"),
    ("def f():\n    return 1  ", "def f():\n    return 1"),
    ("", ""),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_empty_after_normalising_is_rejected():
    batch = records_to_table([make_record("\x00 \u200b", source="f:1"), make_record("ok", source="f:2")])
    out = Normalize()(batch)
    assert out.column("reason").to_pylist() == ["empty_instruction", None]


def test_config_is_frozen_and_strict():
    with pytest.raises(Exception):
        NormalizeConfig(unknown=1)
    cfg = NormalizeConfig()
    with pytest.raises(Exception):
        cfg.form = "NFC"


def test_collapsing_folds_runs_of_spaces():
    assert normalize_text("  a   b\u3000c\n   d", collapse_spaces=True) == "a b c\nd"
