"""Replicas of the 52K parallel set for scale benchmarks: copy 0 is the data itself; every further
copy edits each row so that it is a new task (half of its words, or characters for Chinese, are
swapped for others of the same data), except one row in 20, which gets a one-word edit and so stays
a near-duplicate of its original: dedup has real work at every scale. Deterministic (seeded).
"""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Optional

FIELDS = {"en": {"instruction": "en_instruction", "input": "en_input", "output": "en_output"},
          "zh": {"instruction": "zh_instruction", "input": "zh_input", "output": "zh_output"}}
NEAR_EVERY = 20


def _units(text: str, lang: str) -> list[str]:
    return list(text) if lang == "zh" else text.split(" ")


def _join(units: list[str], lang: str) -> str:
    return "".join(units) if lang == "zh" else " ".join(units)


def _edit(text: str, lang: str, rng: random.Random, vocabulary: list[str], near: bool) -> str:
    units = _units(text, lang)
    if not units or not text:
        return text
    if near:
        units.insert(len(units) - 1, "请" if lang == "zh" else "please")
        return _join(units, lang)
    for i in rng.sample(range(len(units)), k=max(1, len(units) // 2)):
        units[i] = rng.choice(vocabulary)
    return _join(units, lang)


def read_rows(source: Path, lang: str, limit: Optional[int] = None) -> list[dict]:
    fields = FIELDS[lang]
    rows = []
    with gzip.open(source, "rt", encoding="utf-8") as handle:
        for line in handle:
            obj = json.loads(line)
            rows.append({name: obj.get(src) or "" for name, src in fields.items()})
            if limit and len(rows) >= limit:
                break
    return rows


def write_replica(source: Path, lang: str, scale: int, target: Path, limit: Optional[int] = None) -> Path:
    """`scale` copies of the `lang` fields of `source` as Alpaca-style JSONL.gz at `target`."""
    rows = read_rows(source, lang, limit)
    rng = random.Random(f"{lang}-{scale}")
    vocabulary = sorted({u for r in rows[:5000] for u in _units(r["instruction"], lang) if u.strip()})
    with gzip.open(target, "wt", encoding="utf-8", compresslevel=1) as out:
        for copy in range(scale):
            for i, row in enumerate(rows):
                if copy:
                    near = (i + copy) % NEAR_EVERY == 0
                    row = {name: _edit(text, lang, rng, vocabulary, near) if name != "output" or not near else text
                           for name, text in row.items()}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return target
