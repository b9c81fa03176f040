"""Signatures: datasketch compatibility, short and long texts, normal form (no Ray)."""
from __future__ import annotations

import numpy as np
from datasketch import LeanMinHash, MinHash

from operators.dedup.lsh import band_keys, lsh_params
from operators.dedup.minhash import MinHasher
from operators.dedup.pool import DedupPool, rouge_l
from operators.dedup.text import (normalize_batch, normalize_for_dedup, shingle_hash32, shingles,
                                  word_shingle_hash32)

TEXTS = ["Give three tips for staying healthy.", "给出三个保持健康的建议。", "abc", "Hi", "",
         "Find the median of 2, 5, 4, 7.", "x" * 3000, "naïve café ﬁle  —  ok", "😀😀"]


def reference(text: str, n: int = 5, unit: str = "char", num_perm: int = 128, seed: int = 1) -> MinHash:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash32 if unit == "char" else word_shingle_hash32)
    for s in shingles(normalize_for_dedup(text), n, unit):
        m.update(s)
    return m


def test_signatures_equal_datasketch_and_load_as_lean_minhash():
    sig = MinHasher().sign(TEXTS)
    for text, row in zip(TEXTS, sig):
        ref = reference(text)
        assert np.array_equal(ref.hashvalues, row), text
        assert LeanMinHash(seed=1, hashvalues=row, scheme="affine32").jaccard(LeanMinHash(ref)) == 1.0


def test_word_shingles_and_other_parameters_equal_datasketch():
    sig = MinHasher(num_perm=64, seed=42, ngram=2, unit="word").sign(TEXTS)
    for text, row in zip(TEXTS, sig):
        assert np.array_equal(reference(text, 2, "word", 64, 42).hashvalues, row), text


def test_short_text_gets_one_shingle_and_empty_text_none():
    sig = MinHasher().sign(["ab", "", "ab"])
    assert (sig[0] != 0xFFFFFFFF).all() and (sig[1] == 0xFFFFFFFF).all()
    assert np.array_equal(sig[0], sig[2])


def test_chinese_near_duplicates_are_similar_and_numbers_are_not_folded():
    a, b, c, d = MinHasher().sign(["请描述泰姬陵的建筑风格。", "描述泰姬陵的建筑风格。",
                                   "Find the median of 2, 5, 4, 7", "Find the median of 7, 8, 12, 15, 22"])
    assert (a == b).mean() > 0.7
    assert (c == d).mean() < 0.7


def test_normal_form_batch_equals_single():
    assert normalize_batch(TEXTS + [None, "a\x1eb"]) == [normalize_for_dedup(t) for t in TEXTS + [None, "a\x1eb"]]
    assert normalize_for_dedup("Hello,   WORLD!") == normalize_for_dedup("hello world")
    assert normalize_for_dedup("你 好 世界") == "你好世界"


def test_one_megabyte_text_is_signed():
    rng = np.random.default_rng(0)
    big = "".join(rng.choice(list("abcdefghij "), 1_000_000))
    sig = MinHasher().sign([big, big[:-100], "short"])
    assert (sig[0] == sig[1]).mean() > 0.9 and (sig[0] == sig[2]).mean() < 0.1


def test_lsh_parameters_and_band_keys():
    bands, rows = lsh_params(0.7, 128, 2)
    assert bands * rows <= 128
    sig = MinHasher().sign(["one text here", "one text here", "another"])
    keys = band_keys(sig, bands, rows)
    assert (keys[0] == keys[1]).all() and not (keys[0] == keys[2]).any()


def test_pool_query_and_rouge_filter():
    pool = DedupPool()
    added = pool.add_if_novel(["a", "b", "c", "d"], ["Give three tips for staying healthy.",
                                                   "Give three tips for staying healthy!",
                                                   "Write a poem about the sea.", "写一首关于大海的诗。"])
    assert added == [True, False, True, True]
    assert pool.query(["give three tips for staying healthy"])[0][0] == ("a", 1.0)
    assert rouge_l("the cat sat on the mat", "the cat sat on a mat") == 5 / 6
