"""The novelty index decides as a brute-force rouge-score scan of the whole pool does."""
import random

import numpy as np
import pytest
from rouge_score import rouge_scorer

from operators.bootstrap.novelty import NoveltyIndex
from operators.bootstrap.kernels import BLOOM_WORDS, HEADER, matches, query_layers, rouge_l, set_masks, signature
from operators.bootstrap.rouge import rouge_tokens
from tests.support.shared_data import BELLE_ZH_SEEDS, alpaca_instructions, seed_tasks

SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def near_copy(text: str, rng: random.Random) -> str:
    """One word replaced or dropped: ROUGE-L well above 0.7 for texts of more than a few words."""
    words = text.split()
    i = rng.randrange(len(words))
    if rng.random() < 0.5 and len(words) > 4:
        del words[i]
    else:
        words[i] = "zebra"
    return " ".join(words)


def arrivals(n: int, seed: int = 3) -> list[str]:
    """Real Alpaca instructions in file order, with a near-copy of an earlier one every 7th."""
    rng, out = random.Random(seed), []
    for text in alpaca_instructions(n):
        out.append(text)
        if len(out) % 7 == 0:
            out.append(near_copy(rng.choice(out[:-1]), rng))
    return out


def kernel_score(a: str, b: str) -> float:
    """ROUGE-L F of query `a` against pool text `b` through the index's kernels."""
    index = NoveltyIndex()
    index.add(b)
    ta = rouge_tokens(a)
    query = index._ids(ta, grow=False)
    scratch = np.zeros(len(ta) + 1, np.int32), np.zeros(len(ta) + 1, np.int32)
    set_masks(query, index._masks, True)
    score = rouge_l(query, index._masks, index._flat, HEADER, int(index._offsets[1]), *scratch)
    set_masks(query, index._masks, False)
    assert not index._masks.any()  # the query's bits are cleared for the next one
    return score


def test_tokens_and_scores_match_rouge_score():
    """Short texts take the bit-vector LCS, outputs of more than 64 tokens the dynamic programme."""
    outputs = [t for t in alpaca_instructions(200, field="en_output") if len(rouge_tokens(t)) > 80]
    # the word boundary: 63, 64 and 65 tokens (cut from real outputs)
    boundary = [" ".join(rouge_tokens(t)[:k]) for t in outputs[:4] for k in (63, 64, 65)]
    texts = alpaca_instructions(60) + outputs[:20] + boundary
    rng = random.Random(5)
    pairs = list(zip(texts, texts[1:])) + [(t, near_copy(t, rng)) for t in texts if len(t.split()) > 1]
    for a, b in pairs:
        assert rouge_tokens(a) == SCORER._tokenizer.tokenize(a)
        assert kernel_score(a, b) == SCORER.score(b, a)["rougeL"].fmeasure


def test_decisions_equal_brute_force_on_real_alpaca_instructions():
    texts = arrivals(700)
    index, pool, tokenized = NoveltyIndex(0.7), [], []
    disagreements, rejected = 0, 0
    for text in texts:
        verdict = index.check(text)
        tokens = rouge_tokens(text)
        scores = [rouge_scorer._score_lcs(tokens, other).fmeasure for other in tokenized]
        brute_max = max(scores, default=0.0)
        disagreements += verdict.novel != (brute_max <= 0.7)
        if brute_max > 0.7:
            rejected += 1
            assert verdict.max_score == pytest.approx(brute_max, abs=1e-12)
            assert texts[pool[verdict.similar[0][0]]] in [texts[pool[i]] for i, s in enumerate(scores)
                                                          if s == brute_max]
        if verdict.novel:
            assert index.add(text) == len(pool)
            pool.append(texts.index(text))
            tokenized.append(tokens)
    assert rejected >= 90  # the injected near-copies (and Alpaca's own near-duplicates) were seen
    assert disagreements == 0


def test_chinese_is_scored_on_characters():
    tasks = [t["instruction"] for t in seed_tasks(BELLE_ZH_SEEDS)]
    assert len(rouge_tokens(tasks[0])) >= 5
    index = NoveltyIndex()
    for text in tasks:
        index.add(text)
    copy = tasks[10][:-1] + "吗"
    verdict = index.check(copy)
    assert not verdict.novel and index.texts[verdict.similar[0][0]] == tasks[10]
    assert index.check("这是一句与任何种子任务都无关的完全新颖的话语内容").novel


def test_top_similar_are_sorted_and_bounded():
    index = NoveltyIndex()
    for text in alpaca_instructions(400):
        index.add_if_novel(text)
    verdict = index.check("Generate a list of five tips for staying healthy.")
    scores = [s for _, s in verdict.similar]
    assert 0 < len(scores) <= 10 and scores == sorted(scores, reverse=True)


def test_top_similar_are_the_best_ties_by_position():
    """Every pool text above the threshold is a candidate, so the best 10 of those are exact: here
    queries have up to 14 copies and near-copies (exact copies tie at 1.0: the lower position first)."""
    rng, index = random.Random(9), NoveltyIndex()
    texts = [t for t in alpaca_instructions(1500) if len(t.split()) > 5]
    queries = texts[:40]
    for n, text in enumerate(texts):
        index.add(text)
        for _ in range(n % 15 if n < 40 else 0):
            index.add(near_copy(text, rng) if rng.random() < 0.7 else text)
    pool_tokens = [rouge_tokens(t) for t in index.texts]
    for query in queries:
        verdict = index.check(query)
        tokens = rouge_tokens(query)
        scores = {p: rouge_scorer._score_lcs(tokens, other).fmeasure for p, other in enumerate(pool_tokens)}
        above = sorted((-s, p) for p, s in scores.items() if s > 0.7)[:10]
        assert verdict.similar[:len(above)] == tuple((p, -s) for s, p in above)
        assert all(scores[p] == s for p, s in verdict.similar) and len(verdict.similar) <= 10
        assert [s for _, s in verdict.similar] == sorted((s for _, s in verdict.similar), reverse=True)


def test_stamps_are_cleared_before_they_wrap():
    index = NoveltyIndex()
    texts = alpaca_instructions(300)
    for text in texts:
        index.add(text)
    index._queries = np.iinfo(np.int32).max - 3
    for text in texts[:8]:  # every text is its own exact copy in the pool, before and after the wrap
        verdict = index.check(text)
        assert not verdict.novel and verdict.max_score == 1.0
        assert len({p for p, _ in verdict.similar}) == len(verdict.similar)  # each text scored once
    assert index._queries < 10


def test_signature_matches_bound_the_lcs_from_above():
    """Query tokens whose Bloom bit a text's signature has (counted with repeats) >= their LCS, also
    with repeated tokens and more tokens than signature bits."""
    rng = random.Random(11)
    for _ in range(400):
        query = np.array([rng.randrange(40) for _ in range(rng.randrange(1, 90))], np.int32)
        other = np.array([rng.randrange(40) for _ in range(rng.randrange(1, 300))], np.int32)
        sig = np.zeros(BLOOM_WORDS, np.uint64)
        signature(other, sig)
        lcs = rouge_scorer._lcs_table(query.tolist(), other.tolist())[-1][-1]
        assert matches(query_layers(query), sig, 0) >= lcs


def test_pruning_by_signature_changes_neither_decisions_nor_the_top_10():
    """The same pool with every signature bit set (no text can be ruled out before its exact score)
    gives the same verdicts: the pruned texts could not have changed them."""
    texts = arrivals(1300, seed=8)
    index = NoveltyIndex()
    for text in texts[:1100]:
        index.add_if_novel(text)
    queries = texts[1100:]
    pruned = [index.check(q) for q in queries]
    index._postings.blooms[:] = np.iinfo(np.uint64).max
    unpruned = [index.check(q) for q in queries]
    assert [(v.novel, v.similar) for v in pruned] == [(v.novel, v.similar) for v in unpruned]
    assert sum(v.candidates for v in pruned) < 0.85 * sum(v.candidates for v in unpruned)
