"""Language identification: a script / word-list fast path, seeded langdetect for the rest.

`identify(text)` returns `(lang, method)`:
- lang: an ISO 639-1 code (`zh` for both Simplified and Traditional), or `und` when the text has no
  language to check (empty, number-only, code-only, too little text to tell);
- method: `empty`, `nolang` (no letters), `code`, `short`, `script` (fast path), `stopwords` (function
  words of one other Latin-script language) or `langdetect`.

Fast path, in order: Han vs Latin evidence (Han characters and CJK punctuation against frequent English
words) decides Chinese; kana decides Japanese, hangul Korean; Latin text with frequent English words and
no sign of another language decides English. Everything else goes to langdetect, which is seeded
(`DetectorFactory.seed = 0`) on import and by `ensure_seeded()`, and never raises.
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache

from langdetect import DetectorFactory
from langdetect import detector_factory as _ld

from operators.filters import ld_fast
from operators.filters.script import (HAN_RE, HANGUL_RE, KANA_RE, LATIN_WORD_RE, OTHER_LETTER_RE,
                                      count_han, has_letters, looks_like_code, strip_non_prose)
from operators.filters.wordlists import ENGLISH, FOREIGN, FOREIGN_BY_LANG

UND = "und"
DEFAULT_MAX_CHARS = 500
LANGDETECT_MAX_CHARS = 500
LANGDETECT_TRIALS = 3  # langdetect's default is 7; 3 keeps its answer on our data at less than half the cost
CJK_PUNCT_RE = re.compile("[\u3001\u3002\uff0c\uff1a\uff1b\uff01\uff1f\uff08\uff09\u300a\u300b\u300c\u300d\u201c\u201d]")
CJK_ANY_RE = re.compile(HAN_RE.pattern[:-1] + KANA_RE.pattern[1:-1] + HANGUL_RE.pattern[1:-1]
                        + CJK_PUNCT_RE.pattern[1:-1] + "]")
KANA_HANGUL_RE = re.compile(KANA_RE.pattern[:-1] + HANGUL_RE.pattern[1:])
_ACCENTED_RE = re.compile("[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")
_ALIASES = {"zh-cn": "zh", "zh-tw": "zh", "zh-hans": "zh", "zh-hant": "zh", "zh-hk": "zh", "zh-sg": "zh",
            "cmn": "zh", "chinese": "zh", "eng": "en", "english": "en", "zho": "zh", "chi": "zh"}
_lock = threading.Lock()


def ensure_seeded() -> None:
    """Seed langdetect and load its profiles once per process (call in each worker)."""
    DetectorFactory.seed = 0
    if _ld._factory is None:
        with _lock:
            _ld.init_factory()


def normalize_lang(code: str | None) -> str:
    """`zh-CN`, `zh_TW`, `zh-Hant`, `en-US`, `English` -> `zh` / `en`; empty stays empty."""
    if not code:
        return ""
    code = code.strip().lower().replace("_", "-")
    if code in _ALIASES:
        return _ALIASES[code]
    return code.split("-")[0]


def langdetect_probabilities(text: str, max_chars: int = LANGDETECT_MAX_CHARS) -> list[tuple[str, float]]:
    """langdetect's (normalised lang, probability) list, best first; [] when it has nothing to say.

    Cached per text: with a fixed seed langdetect reseeds its generator for every text, so the answer
    depends on the text alone (the parallel set repeats its untranslated texts on both sides).
    """
    return list(_langdetect_cached(text[:max_chars], max_chars))


@lru_cache(maxsize=4096)
def _langdetect_cached(text: str, max_chars: int) -> tuple[tuple[str, float], ...]:
    ensure_seeded()
    try:
        detector = ld_fast.create(_ld._factory)
        detector.n_trial = LANGDETECT_TRIALS
        detector.set_max_text_length(max_chars)
        detector.append(text[:max_chars])
        merged: dict[str, float] = {}
        for item in detector.get_probabilities():
            lang = normalize_lang(item.lang)
            merged[lang] = merged.get(lang, 0.0) + item.prob
        return tuple(sorted(merged.items(), key=lambda kv: -kv[1]))
    except Exception:  # langdetect raises on featureless text; never let it escape
        return ()


def clear_caches() -> None:
    """Forget cached langdetect answers (benchmarks time cold passes)."""
    _langdetect_cached.cache_clear()
    ld_fast.clear()


def plain_langdetect(text: str) -> str:
    """langdetect as most projects call it (`detect(text)`), zh-cn/zh-tw -> zh; `und` on error."""
    ensure_seeded()
    try:
        return normalize_lang(_ld.detect(text))
    except Exception:
        return UND


def _latin(text: str) -> tuple[str, str] | None:
    """Latin-script text: `en` unless it shows another language; None to ask langdetect.

    Foreign evidence: lower-case function words of other languages (so `Los Angeles`, `El Niño` do not
    count) and words with accented letters (`café` counts once).
    """
    words = LATIN_WORD_RE.findall(text)
    if not words:
        return None
    if all(len(w) < 2 for w in words):
        return UND, "short"  # formulas and single letters: x + y = 9
    accented = 0 if text.isascii() else sum(1 for w in words if _ACCENTED_RE.search(w))
    if not accented and FOREIGN.isdisjoint(words):
        return "en", "script"  # prose, lists, names and short answers without a foreign word
    foreign = accented + sum(1 for w in words if w in FOREIGN)
    english = sum(1 for w in words if w.lower() in ENGLISH)
    if english >= 2 * foreign and english >= 0.2 * len(words):
        return "en", "script"
    votes = sorted(((sum(1 for w in words if w in stop), lang) for lang, stop in FOREIGN_BY_LANG.items()),
                   reverse=True)
    if votes[0][0] >= 3 and votes[0][0] >= 2 * votes[1][0] and votes[0][0] >= 2 * english:
        return votes[0][1], "stopwords"
    return None


def _cjk(text: str) -> tuple[str, str] | None:
    """Han / kana / hangul evidence; None when the text is not mainly CJK."""
    han = count_han(text)
    if KANA_HANGUL_RE.search(text):
        kana, hangul = len(KANA_RE.findall(text)), len(HANGUL_RE.findall(text))
        cjk = han + kana + hangul
        if kana >= 2 and kana >= 0.2 * cjk:
            return "ja", "script"
        if hangul >= 2 and hangul >= 0.3 * cjk:
            return "ko", "script"
        han += kana
    if han >= 0.3 * len(text):
        return "zh", "script"
    units = han + len(CJK_PUNCT_RE.findall(text))
    english = sum(1 for w in LATIN_WORD_RE.findall(text.lower()) if w in ENGLISH)
    if units >= max(english, 1) and han >= len(OTHER_LETTER_RE.findall(text)):
        return "zh", "script"
    return None


def identify(text: str | None, max_chars: int = DEFAULT_MAX_CHARS) -> tuple[str, str]:
    if not text or text.isspace():
        return UND, "empty"
    text = strip_non_prose(text[:max_chars])
    if not has_letters(text):
        return UND, "nolang"
    if looks_like_code(text):
        return UND, "code"
    ascii_text = text.isascii()
    if not ascii_text and CJK_ANY_RE.search(text):
        decided = _cjk(text)
        if decided:
            return decided
    if ascii_text or len(OTHER_LETTER_RE.findall(text)) <= 0.1 * len(text):
        decided = _latin(text)
        if decided:
            return decided
    probabilities = langdetect_probabilities(text)
    return (probabilities[0][0], "langdetect") if probabilities else (UND, "langdetect")


DetectorFactory.seed = 0
