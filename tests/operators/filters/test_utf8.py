"""The numpy byte-level counts agree with Python's definitions, on odd text and odd Arrow layouts."""
import random

import numpy as np
import pyarrow as pa
import pytest

from operators.filters import columns, script
from operators.filters.length import text_length
from operators.filters.utf8 import Utf8Rows, char_table

SPACES = [c for c in map(chr, range(0x3001)) if c.isspace()]
PIECES = SPACES + ["a", "Bc", "中", "文", "\u3400", "\ufa00", "、", "。", "é", "\u0085x", "\u00a0", "ß", "😀", "\U00020000",
                   "\u2000", "\u1680", "\u3000", "\u0800", "\uffff", "\x1c", "K", "İ", "ア", "한"]


def _texts(count=400, seed=3):
    rng = random.Random(seed)
    return ["", " ", "中" * 600, "a b\u3000c\u00a0d"] + [
        "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 30))) for _ in range(count)]


def _layouts(texts):
    """The same texts as a plain, a large, a sliced and a null-holding array."""
    plain = pa.array(texts)
    padded = pa.array(["x"] * 3 + texts + ["y"]).slice(3, len(texts))
    with_null = pa.array(texts + [None])
    return [(plain, texts), (plain.cast(pa.large_string()), texts), (padded, texts),
            (with_null, texts + [""]), (pa.array([], pa.string()), [])]


@pytest.mark.parametrize("layout", range(5))
def test_counts_match_python(layout):
    array, texts = _layouts(_texts())[layout]
    rows = Utf8Rows(array)
    han = char_table(script._HAN)
    assert rows.count(han).tolist() == [script.count_han(t) for t in texts]
    assert rows.space_counts().tolist() == [sum(c.isspace() for c in t) for t in texts]
    assert rows.lengths().tolist() == [len(t) for t in texts]
    assert columns.word_counts(array).tolist() == [len(t.split()) for t in texts]
    assert columns.char_counts(array).tolist() == [text_length(t, "zh") for t in texts]
    ideographic = rows.per_row(rows.positions_of("\u3000")).tolist()
    assert ideographic == [t.count("\u3000") for t in texts]


def test_spaces_cover_every_byte_of_whitespace_characters():
    texts = _texts(100, seed=8)
    rows = Utf8Rows(pa.array(texts))
    expected = np.concatenate([np.array([c.isspace() for c in t for _ in c.encode()], dtype=bool) for t in texts])
    assert (rows.spaces() == expected).all()


def test_char_table_rejects_characters_it_cannot_find():
    assert char_table("\u4e00-\u4e01\u3000").sum() == 3
    with pytest.raises(ValueError):
        char_table("a-z")
