"""Answers and judgments for feedback pipelines, for the fake OpenAI server (`answer_fn`).

    with FakeOpenAI(answer_fn=FeedbackAnswers(first_bias=0.3)) as server: ...

* Answer prompts (Alpaca templates) get an answer by the request's `model`: `gpt-4` replays the real
  GPT-4 answer from ../shared/data/gpt4-llm-samples/alpaca_gpt4_en_sample.json, `text-davinci-003` a
  degraded one (its first half), any other model (OPT-IML) a badly degraded one (a few words).
  Instructions not in the file get the server's deterministic answer.
* Judge prompts (operators/feedback/prompts.py) are graded by a hidden rule of the answer text,
  `hidden_score` (distinct words), in one of several reply styles (`7`, `Rating: [[7]]`, `Score: 7/10`,
  `7.0`). Markers in the request: `[[judge:unparsed]]` (never a rating), `[[judge:unparsedx1]]` (none in
  the first reply, a rating when asked again), `[[judge:11]]` (always 11, out of range).
* Critique prompts (critique_revise) get a short critique; the revision request after it gets the
  answer with a sentence added (`[[revise:same]]` in the request: the answer unchanged).
* Compare prompts get `[[A]]`, `[[B]]` or `[[C]]` by the hidden scores; with probability `first_bias`
  (seeded per prompt) the judge prefers the answer shown first whatever it says. `shown` counts the
  (first, second) answer pairs it was shown.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.openai_server import deterministic_answer, split_alpaca
from tests.support.shared_data import SHARED

REAL_ANSWERS = SHARED / "gpt4-llm-samples" / "alpaca_gpt4_en_sample.json"
_WORD = re.compile(r"[a-z']+")
_ANSWER = re.compile(r"\[Answer\]\n(.*)\n\[End of answer\]", re.S)
_PAIR = re.compile(r"\[Answer A\]\n(.*)\n\[End of answer A\]\n\n\[Answer B\]\n(.*)\n\[End of answer B\]", re.S)
_MARK = re.compile(r"\[\[judge:([a-z0-9]+?)(x1)?\]\]")
STYLES = ("{s}\nThe answer addresses the request.", "Rating: [[{s}]]\nClear enough.",
          "Score: {s}/10. It covers the main points.", "{s}.0\nReasonably detailed.")


def hidden_score(text: str) -> int:
    """The judge's hidden rule: one point per six distinct words, 1..10."""
    return max(1, min(10, 1 + len(set(_WORD.findall(text.lower()))) // 6))


def degrade(text: str, model: str) -> str:
    if model == "text-davinci-003":
        return text[: max(1, len(text) // 2)]
    return " ".join(_WORD.findall(text.lower())[:8])


def _draw(*parts: str) -> float:
    digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2 ** 64


class FeedbackAnswers:
    def __init__(self, real: Path = REAL_ANSWERS, first_bias: float = 0.0, seed: int = 0):
        self.first_bias, self.seed = first_bias, str(seed)
        self.real: dict[tuple[str, str], str] = {}
        for row in json.loads(Path(real).read_text(encoding="utf-8")):
            self.real.setdefault((row["instruction"].strip(), (row.get("input") or "").strip()), row["output"])
        self.shown: Counter = Counter()
        self._lock = threading.Lock()

    def __call__(self, messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        first = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
        retried = any(m.get("role") == "assistant" for m in messages)
        if "Critique the answer:" in first:
            return self.revise(first, retried)
        pair = _PAIR.search(first)
        if pair:
            return self.compare(first, pair.group(1), pair.group(2), retried)
        single = _ANSWER.search(first)
        if single:
            return self.judge(first, single.group(1), retried)
        return self.answer(first, str(body.get("model") or ""), messages, body)

    def answer(self, prompt: str, model: str, messages: list, body: dict) -> str:
        real = self.real.get(split_alpaca(prompt))
        if real is None:
            return deterministic_answer(messages, body)
        return real if model == "gpt-4" else degrade(real, model)

    def judge(self, prompt: str, answer: str, retried: bool) -> str:
        mark = _MARK.search(prompt)
        if mark and mark.group(1) == "unparsed" and not (mark.group(2) and retried):
            return "This answer is fine, I think."
        if mark and mark.group(1).isdigit():
            return f"{mark.group(1)}\nOut of the scale."
        score = hidden_score(answer)
        return str(score) if retried else STYLES[int(_draw(answer) * len(STYLES))].format(s=score)

    def revise(self, prompt: str, retried: bool) -> str:
        if not retried:
            return "The answer could name its sources and be more specific."
        original = _ANSWER.search(prompt).group(1)
        return original if "[[revise:same]]" in prompt else original + " Sources: see the references above."

    def compare(self, prompt: str, first: str, second: str, retried: bool) -> str:
        with self._lock:
            self.shown[(first, second)] += 1
        if _draw(self.seed, prompt) < self.first_bias:
            return "The first answer is better. [[A]]"
        a, b = hidden_score(first), hidden_score(second)
        return "Verdict: " + ("[[A]]" if a > b else "[[B]]" if b > a else "[[C]]")
