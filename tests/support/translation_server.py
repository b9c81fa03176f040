"""Replayed translations (and answers) for the fake OpenAI server, with translation faults.

    with FakeOpenAI(answer_fn=TranslationReplay()) as server: ...

A translation request (the `translate` stage's: a user message holding a JSON object of
instruction / input / output) is answered with that row's Chinese from the parallel set
../shared/data/alpaca_parallel_en_zh_52k.jsonl.gz, looked up by the English instruction and input.
Text not in the set gets a deterministic pseudo-translation that keeps code, URLs, numbers and lines
(so QA passes). Any other request is an answer request (Alpaca prompt): a Chinese instruction of the
set gets its `zh_output`, an English one its `en_output`, anything else a deterministic answer in the
instruction's language.

Translation faults, chosen per row by `faults` (English instruction -> fault), by a marker
`[[tfault:NAME]]` in the text, or at seeded `fault_rates`:
    wrong_language (Japanese), echo (the English back), drop_code (code blocks and code lines removed),
    change_number (the first number + 1), traditional (Traditional characters), invalid_json (the object
    cut off mid-value), refuse (an apology instead of the object), empty (empty values).
`bodies` keeps the last request bodies (to check e.g. `response_format`).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from operators.filters import t2s_table
from operators.filters.script import HAN_RE
from operators.translate_qa.spans import FENCE_RE, INLINE_CODE_RE, PLACEHOLDER_RE, TAG_RE, URL_RE, is_code_line
from tests.support.openai_server import deterministic_answer, last_user, split_alpaca

PARALLEL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "alpaca_parallel_en_zh_52k.jsonl.gz"
TRANSLATION_FAULTS = ("wrong_language", "echo", "drop_code", "change_number", "traditional", "invalid_json",
                      "refuse", "empty")
TMARKER = re.compile(r"\[\[tfault:([a-z_]+)\]\]")
KEYS = ("instruction", "input", "output")
_HANZI = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种"
          "面而方后多定行学法所民得经之进着等部度家电力里如水化高自理起小物现实加量都体制机当使点从业本去把性好应开"
          "它合还因由其些然前外天政日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此")
_KEEP = re.compile("|".join(f"(?:{r.pattern})" for r in (FENCE_RE, INLINE_CODE_RE, URL_RE, PLACEHOLDER_RE, TAG_RE)),
                   re.S)
JAPANESE = "これはテスト用の日本語の文章です。"
REFUSAL = "I'm sorry, but I can't help with translating this text."


@lru_cache(maxsize=2)
def load_parallel(path: str = str(PARALLEL)) -> dict[str, Any]:
    """(en_instruction, en_input) -> row; en_instruction -> row; zh / en instruction -> output."""
    by_pair, by_instruction, answers = {}, {}, {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            key = (row["en_instruction"].strip(), row["en_input"].strip())
            by_pair.setdefault(key, row)
            by_instruction.setdefault(key[0], row)
            answers.setdefault((row["zh_instruction"].strip(), row["zh_input"].strip()), row["zh_output"])
            answers.setdefault(key, row["en_output"])
    return {"pair": by_pair, "instruction": by_instruction, "answers": answers}


def pseudo_chinese(text: str) -> str:
    """Each word becomes one to three Han characters; code, URLs, placeholders, numbers and lines stay."""
    def words(segment: str) -> str:
        return re.sub(r"[A-Za-z][A-Za-z'-]*", lambda m: _han_word(m.group(0)), segment)
    out, last = [], 0
    for match in _KEEP.finditer(text):
        out.append(words(text[last:match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(words(text[last:]))
    lines = "".join(out).split("\n")
    originals = text.split("\n")
    return "\n".join(orig if is_code_line(orig) else line for line, orig in zip(lines, originals))


def _han_word(word: str) -> str:
    digest = hashlib.blake2b(word.lower().encode(), digest_size=4).digest()
    return "".join(_HANZI[b % len(_HANZI)] for b in digest[:1 + len(word) // 4][:3])


@lru_cache(maxsize=1)
def _s2t() -> dict[int, str]:
    table: dict[int, str] = {}
    for trad, simp in zip(t2s_table.TRADITIONAL, t2s_table.SIMPLIFIED):
        if trad != simp:
            table.setdefault(ord(simp), trad)
    return table


def to_traditional(text: str) -> str:
    return text.translate(_s2t())


class TranslationReplay:
    def __init__(self, path: str | Path = PARALLEL, faults: Optional[dict[str, str]] = None,
                 fault_rates: Optional[dict[str, float]] = None, seed: int = 0):
        unknown = (set(faults.values()) if faults else set()) | set(fault_rates or {})
        if unknown - set(TRANSLATION_FAULTS):
            raise ValueError(f"unknown faults {sorted(unknown - set(TRANSLATION_FAULTS))}")
        self.table = load_parallel(str(path))
        self.faults, self.fault_rates, self.seed = dict(faults or {}), dict(fault_rates or {}), seed
        self.bodies: deque = deque(maxlen=64)
        self.translations = self.answers = 0
        self.faults_sent: dict[str, int] = {}

    def __call__(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        self.bodies.append(body)
        prompt = last_user(messages)
        request = _translation_request(prompt)
        if request is None:
            self.answers += 1
            return self.answer(messages, body)
        self.translations += 1
        return self.translate(request)

    # --- translations -----------------------------------------------------------------------------
    def translate(self, request: dict[str, str]) -> str:
        clean = {k: TMARKER.sub("", v).strip() for k, v in request.items()}
        row = self._lookup(clean)
        reply = {k: self._translated(k, v, row) for k, v in clean.items()}
        fault = self._fault(request)
        if fault:
            self.faults_sent[fault] = self.faults_sent.get(fault, 0) + 1
            return self._faulty(fault, request, reply)
        return json.dumps(reply, ensure_ascii=False)

    def _lookup(self, clean: dict[str, str]) -> Optional[dict[str, Any]]:
        instruction = clean.get("instruction")
        if instruction is None:
            return None
        pair = self.table["pair"].get((instruction, clean.get("input", "")))
        return pair or self.table["instruction"].get(instruction)

    def _translated(self, key: str, text: str, row: Optional[dict[str, Any]]) -> str:
        if row is not None and row[f"en_{key}"].strip() == text:
            return row[f"zh_{key}"]
        return pseudo_chinese(text)

    def _fault(self, request: dict[str, str]) -> Optional[str]:
        text = " ".join(request.values())
        marker = TMARKER.search(text)
        if marker:
            return marker.group(1)
        named = self.faults.get(request.get("instruction", "").strip())
        if named:
            return named
        if not self.fault_rates:
            return None
        draw = int.from_bytes(hashlib.blake2b(f"{self.seed}\0{text}".encode(), digest_size=8).digest(), "big") / 2 ** 64
        edge = 0.0
        for name, rate in sorted(self.fault_rates.items()):
            edge += rate
            if draw < edge:
                return name
        return None

    def _faulty(self, fault: str, source: dict[str, str], reply: dict[str, str]) -> str:
        if fault == "refuse":
            return REFUSAL
        if fault == "invalid_json":
            return json.dumps(reply, ensure_ascii=False)[:-2]
        if fault == "echo":
            reply = dict(source)
        elif fault == "empty":
            reply = {k: "" for k in reply}
        elif fault == "wrong_language":
            reply = {k: (JAPANESE * (1 + len(v) // 40)) for k, v in reply.items()}
        elif fault == "traditional":
            reply = {k: to_traditional(v) for k, v in reply.items()}
        elif fault == "drop_code":
            reply = {k: _drop_code(v) for k, v in reply.items()}
        elif fault == "change_number":
            reply = _change_first_number(reply)
        return json.dumps(reply, ensure_ascii=False)

    # --- answers ----------------------------------------------------------------------------------
    def answer(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        instruction, input_ = split_alpaca(last_user(messages))
        found = self.table["answers"].get((instruction, input_)) or self.table["answers"].get((instruction, ""))
        if found:
            return found
        english = deterministic_answer(messages, body)
        return pseudo_chinese(english) if HAN_RE.search(instruction) else english


def _translation_request(prompt: str) -> Optional[dict[str, str]]:
    text = prompt.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) and value and set(value) <= set(KEYS) and all(isinstance(v, str) for v in value.values()):
        return value
    return None


def _drop_code(text: str) -> str:
    text = FENCE_RE.sub("", text)
    lines = [line for line in text.split("\n") if not (is_code_line(line) or TAG_RE.search(line))]
    return "\n".join(lines)


def _change_first_number(reply: dict[str, str]) -> dict[str, str]:
    out, done = {}, False
    for key, text in reply.items():
        match = None if done else re.search(r"\d+", text)
        if match:
            text = text[:match.start()] + str(int(match.group(0)) + 1) + text[match.end():]
            done = True
        out[key] = text
    return out
