"""Query API for a growing pool of texts: LSH candidates first, exact checks on candidates only.

This replaces Self-Instruct's O(N^2) ROUGE-L scan: `DedupPool.add_if_novel` signs a batch of new
instructions at once, looks up LSH candidates among the pool (and the batch's earlier texts), and
computes ROUGE-L only against those candidates; a text is novel when no candidate reaches
`max_rouge` (Self-Instruct keeps instructions with ROUGE-L < 0.7 against every pool member).
Candidate recall depends on the LSH threshold: ROUGE-L 0.7 pairs usually have a character
5-gram Jaccard well above 0.3, the default banding threshold of the pool.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from operators.dedup.lsh import band_keys, optimal_bands
from operators.dedup.minhash import MinHasher
from operators.dedup.text import normalize_batch, normalize_for_dedup, word_tokens


def tokens(text: str) -> list[str]:
    """ROUGE tokens: words of the dedup normal form; each CJK character is a word."""
    return word_tokens(normalize_for_dedup(text))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(a: str | Sequence[str], b: str | Sequence[str]) -> float:
    """ROUGE-L F-measure (as rouge_score's rougeL fmeasure) of two texts or token lists."""
    ta = tokens(a) if isinstance(a, str) else list(a)
    tb = tokens(b) if isinstance(b, str) else list(b)
    if not ta or not tb:
        return 0.0
    lcs = lcs_length(ta, tb)
    if not lcs:
        return 0.0
    precision, recall = lcs / len(tb), lcs / len(ta)
    return 2 * precision * recall / (precision + recall)


class DedupPool:
    """In-memory MinHash-LSH pool of (id, text) with a query for near-duplicate candidates."""

    def __init__(self, lsh_threshold: float = 0.3, num_perm: int = 128, seed: int = 1, ngram: int = 5,
                 unit: str = "char", bands: int | None = None, rows: int | None = None):
        self.hasher = MinHasher(num_perm, seed, ngram, unit)
        self.bands, self.rows = (bands, rows) if bands and rows else optimal_bands(lsh_threshold, num_perm)
        self.ids: list[str] = []
        self.texts: list[str | None] = []
        self._tokens: dict[int, list[str]] = {}
        self._sigs: list[np.ndarray] = []
        self._buckets = [defaultdict(list) for _ in range(self.bands)]

    def __len__(self) -> int:
        return len(self.ids)

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        return self.hasher.sign_normalized(normalize_batch(texts))

    def add(self, ids: Sequence[str], texts: Sequence[str] | None = None,
            signatures: np.ndarray | None = None) -> None:
        """Add rows by text, or by precomputed signatures (e.g. from a dedup index)."""
        sigs = self.signatures(texts) if signatures is None else np.asarray(signatures, np.uint32)
        keys = band_keys(sigs, self.bands, self.rows)
        for n, (row_id, sig, row_keys) in enumerate(zip(ids, sigs, keys)):
            pos = len(self.ids)
            self.ids.append(row_id)
            self.texts.append(texts[n] if texts is not None else None)
            self._sigs.append(sig)
            for band, key in enumerate(row_keys.tolist()):
                self._buckets[band][key].append(pos)

    def _candidates(self, sig: np.ndarray, key_row: np.ndarray) -> list[tuple[int, float]]:
        found = set()
        for band, key in enumerate(key_row.tolist()):
            found.update(self._buckets[band].get(key, ()))
        return sorted(((p, float((self._sigs[p] == sig).mean())) for p in found), key=lambda c: (-c[1], c[0]))

    def query(self, texts: Sequence[str], min_similarity: float = 0.0) -> list[list[tuple[str, float]]]:
        """For each text: pool ids sharing an LSH band, with estimated Jaccard >= min_similarity."""
        sigs = self.signatures(texts)
        keys = band_keys(sigs, self.bands, self.rows)
        return [[(self.ids[p], s) for p, s in self._candidates(sig, row) if s >= min_similarity]
                for sig, row in zip(sigs, keys)]

    def add_if_novel(self, ids: Sequence[str], texts: Sequence[str], max_rouge: float = 0.7) -> list[bool]:
        """Self-Instruct's filter: add each text unless its ROUGE-L with a candidate (from the pool or
        an earlier text of this batch) reaches `max_rouge`. Returns one flag per text (True = added)."""
        sigs = self.signatures(texts)
        keys = band_keys(sigs, self.bands, self.rows)
        added = []
        for row_id, text, sig, row in zip(ids, texts, sigs, keys):
            mine = tokens(text)
            novel = all(rouge_l(mine, self._tokens_of(p)) < max_rouge for p, _ in self._candidates(sig, row))
            if novel:
                self.add([row_id], [text], sig[None, :])
                self._tokens[len(self.ids) - 1] = mine
            added.append(novel)
        return added

    def _tokens_of(self, pos: int) -> list[str]:
        if pos not in self._tokens:
            self._tokens[pos] = tokens(self.texts[pos] or "")
        return self._tokens[pos]

    @classmethod
    def from_index(cls, uri: str, field: int = 0, published_only: bool = True, **kwargs) -> "DedupPool":
        """A pool of one field's signatures from a dedup index (texts unknown: query only)."""
        from operators.dedup.index import read_index_table, read_params
        params = read_params(uri)
        pool = cls(num_perm=params["num_perm"], seed=params["seed"], ngram=params["ngram"],
                   unit=params["unit"], **kwargs)
        table = read_index_table(uri, ["id", "signature", "published"])
        if published_only:
            table = table.filter(table.column("published"))
        fields = 1 if params["combined"] else len(params["fields"])
        raw = np.frombuffer(b"".join(table.column("signature").to_pylist()), np.uint32)
        pool.add(table.column("id").to_pylist(), None,
                 raw.reshape(-1, fields, params["num_perm"])[:, field, :])
        return pool


def _flush(pool, chunk, max_rouge):
    flags = pool.add_if_novel([c[0] for c in chunk], [c[1] for c in chunk], max_rouge)
    return [(i, t, f) for (i, t), f in zip(chunk, flags)]
