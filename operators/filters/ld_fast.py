"""langdetect's `Detector` with its inner loop on numpy vectors: same answers, bit for bit.

`Detector._detect_block` multiplies a 55-language probability list by one n-gram's weights per random
draw, in a Python loop over the languages. Here the list is a float64 vector and each draw picks a row
of a per-trial matrix of `weight + p` for the text's distinct n-grams: every element sees the same IEEE
operations in the same order (`prob[i] *= weight + p[i]`, `prob[i] / sum(prob)` with the built-in
`sum`), the random draws are the same calls on the same seeded generator (`choice` from a list as long
as the n-gram list), so the probabilities are identical (tests/operators/filters/test_ld_fast.py
compares them with langdetect's own).
"""
from __future__ import annotations

import numpy as np
from langdetect.detector import Detector
from langdetect.lang_detect_exception import ErrorCode, LangDetectException

_VECTORS: dict[str, np.ndarray] = {}
_MAX_VECTORS = 50_000  # n-gram weight vectors kept (55 floats each)


def _weights(table: dict, word: str) -> np.ndarray:
    vector = _VECTORS.get(word)
    if vector is None:
        if len(_VECTORS) >= _MAX_VECTORS:
            _VECTORS.clear()
        vector = _VECTORS[word] = np.array(table[word], dtype=np.float64)
    return vector


def clear() -> None:
    _VECTORS.clear()


class VectorDetector(Detector):
    def _detect_block(self) -> None:
        self.cleaning_text()
        ngrams = self._extract_ngrams()
        if not ngrams:
            raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
        langprob = np.zeros(len(self.langlist), dtype=np.float64)
        rows: dict[str, int] = {}
        picks = [rows.setdefault(ngram, len(rows)) for ngram in ngrams]  # same length: the same draws
        vectors = np.stack([_weights(self.word_lang_prob_map, ngram) for ngram in rows])
        self.random.seed(self.seed)
        choice = self.random.choice
        for _ in range(self.n_trial):
            prob = np.array(self._init_probability(), dtype=np.float64)
            alpha = self.alpha + self.random.gauss(0.0, 1.0) * self.ALPHA_WIDTH
            factors = alpha / self.BASE_FREQ + vectors  # row k: the weight + n-gram k's vector
            i = 0
            while True:
                prob *= factors[choice(picks)]
                if i % 5 == 0:
                    if self._normalize(prob) > self.CONV_THRESHOLD or i >= self.ITERATION_LIMIT:
                        break
                i += 1
            langprob += prob / self.n_trial
        self.langprob = langprob.tolist()

    @staticmethod
    def _normalize(prob: np.ndarray) -> float:
        """`Detector._normalize_prob`: divide by the (sequential, built-in) sum, return the maximum."""
        prob /= sum(prob.tolist())
        top = np.fmax.reduce(prob)
        return float(top) if top > 0.0 else 0.0  # the original starts from 0.0 and skips NaN


def create(factory) -> VectorDetector:
    """`factory.create()` with the vector detector."""
    if not factory.langlist:
        raise LangDetectException(ErrorCode.NeedLoadProfileError, "Need to load profiles.")
    return VectorDetector(factory)
