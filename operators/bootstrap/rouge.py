"""ROUGE-L tokens as the `rouge-score` package makes them (its LCS and F-measure: kernels.py).

rouge-score's default tokenizer lowercases, keeps runs of [a-z0-9] and drops everything else, so
Chinese text would score 0; here each CJK character is one more token ("Chinese scored on
characters"), which leaves English scores identical to rouge-score's.
"""
from __future__ import annotations

import re

_TOKEN = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")


def rouge_tokens(text: str) -> list[str]:
    return _TOKEN.findall((text or "").lower())
