"""The repetition bounds are sound: they never clear a text whose exact ratio reaches the threshold."""
import random

import numpy as np
import pyarrow as pa

from operators.filters.repetition import may_repeat, may_repeat_column, repetition_ratio

# Case partners, characters that lower-case to ASCII (K = KELVIN SIGN, İ), every kind of separator
# (ASCII, two-byte and wide whitespace, CJK characters) and non-ASCII inside words.
WORDS = ["the", "The", "THE", "cat", "Cat", "k", "K", "K", "i̇", "İ", "café", "cafÉ", "naïve", "don’t", "a", "ab",
         "ba", "aab", "aba", "中", "文", "ア", "한", "\u3400", "\uf900", "。", "，", "😀", "x\u00a0y", "x\u3000y",
         "x\u2003y", "x\u0085y", "a\x1cb", "a\x0bb", "Σ", "σ", "ς", "ΣΑΣ", "ßs", "SS"]
GLUE = [" ", "  ", "\n", "\t", "", "\u00a0", "\u3000", "\x1f"]


def _random_text(rng):
    vocabulary = rng.sample(WORDS, rng.randrange(1, 8))
    return "".join(rng.choice(vocabulary) + rng.choice(GLUE) for _ in range(rng.randrange(0, 120)))


def _texts():
    rng = random.Random(17)
    loops = ["I think that this is the answer. " * 30, "我认为这是答案。" * 40, "The the THE tHe " * 10,
             "K k K " * 12, "a" * 50, "a " * 50, ""]
    return loops + [_random_text(rng) for _ in range(3000)]


def test_column_bound_never_clears_a_text_at_its_exact_threshold():
    texts = _texts()
    for n in (1, 2, 4, 6):
        ratios = [repetition_ratio(t, n, 1) for t in texts]
        thresholds = np.array([r if r > 0 else 0.5 for r in ratios])  # the tightest threshold each text meets
        maybe = may_repeat_column(pa.array(texts), np.full(len(texts), n), thresholds)
        missed = [t for t, r, m in zip(texts, ratios, maybe) if r > 0 and not m]
        assert not missed, (n, missed[:3])
        assert all(may_repeat(t, n, r) for t, r in zip(texts, ratios) if r > 0)


def test_column_bound_clears_ordinary_text():
    texts = ["The three primary colours are red, blue and yellow, and mixing them gives every other hue we see.",
             "给出保持健康的三个建议：均衡饮食，规律运动，保证充足的睡眠，这样身体才能保持良好的状态。"]
    assert not may_repeat_column(pa.array(texts), np.array([4, 6]), np.full(2, 0.75)).any()
    assert may_repeat_column(pa.array(texts[:1] * 2 + ["a b c d " * 20]), np.full(3, 4), np.full(3, 0.75)).tolist() \
        == [False, False, True]
