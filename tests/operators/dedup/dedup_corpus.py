"""A generated corpus of short instructions with injected near-duplicates and exact copies."""
from __future__ import annotations

import random

import numpy as np
import scipy.sparse as sp

from operators.dedup.text import normalize_batch, shingles
from operators.schema import make_record, records_to_table

VERBS = ("write", "describe", "explain", "list", "give", "create", "generate", "summarize", "classify",
         "translate", "compare", "find", "name", "suggest", "rewrite", "identify", "compose", "design")


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))


def _edit(rng: random.Random, text: str) -> str:
    words = text.split()
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(("word", "insert", "delete", "char"))
        i = rng.randrange(len(words))
        if kind == "word":
            words[i] = _word(rng)
        elif kind == "insert":
            words.insert(i, _word(rng))
        elif kind == "delete" and len(words) > 4:
            del words[i]
        else:
            w = words[i]
            j = rng.randrange(len(w))
            words[i] = w[:j] + rng.choice("abcdefghijklmnopqrstuvwxyz") + w[j + 1:]
    return " ".join(words)


def instructions(n: int = 5000, seed: int = 7, near: float = 0.12, exact: float = 0.08) -> list[str]:
    rng = random.Random(seed)
    vocab = [_word(rng) for _ in range(3000)]
    texts: list[str] = []
    for _ in range(n):
        r = rng.random()
        if texts and r < near:
            texts.append(_edit(rng, rng.choice(texts)))
        elif texts and r < near + exact:
            source = rng.choice(texts)
            texts.append(rng.choice((source, source.upper(), source + ".", "  " + source.replace(" ", "  "))))
        else:
            words = [rng.choice(VERBS)] + [rng.choice(vocab) for _ in range(rng.randint(5, 12))]
            texts.append(" ".join(words).capitalize() + rng.choice((".", "?", "")))
    return texts


def table(texts: list[str], path: str = "corpus.jsonl", lang: str = "en", start: int = 1):
    return records_to_table(make_record(t, "", f"answer {i}", lang, f"{path}:{i + start}")
                            for i, t in enumerate(texts))


def true_pairs(texts: list[str], threshold: float = 0.7, n: int = 5) -> set[tuple[int, int]]:
    """All pairs with exact character n-gram Jaccard >= threshold (sparse all-pairs product)."""
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for i, text in enumerate(normalize_batch(texts)):
        for s in set(shingles(text, n)):
            rows.append(i)
            cols.append(vocab.setdefault(s, len(vocab)))
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(texts), len(vocab)))
    sizes = np.asarray(x.sum(axis=1)).ravel()
    inter = sp.triu(x @ x.T, k=1).tocoo()
    jac = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    keep = jac >= threshold - 1e-9
    return set(zip(inter.row[keep].tolist(), inter.col[keep].tolist()))
