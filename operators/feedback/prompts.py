"""What the judge is asked and how its replies are read (GPT-4-LLM's criteria; MT-Bench's pairwise verdicts).

Single-answer grading asks for a whole-number rating 1-10 alone on the first line, then a short
explanation. The reply is read leniently: `[[7]]`, `Rating: 7` / `Score: 7`, `7/10` anywhere, or a
bare number (`7`, `7.5`) on the first line. A rating outside 1..10 is unparsed, never clipped.
Pairwise comparison shows two answers and asks for `[[A]]`, `[[B]]` or `[[C]]` (a tie) at the end.
"""
from __future__ import annotations

import re
from typing import Optional

JUDGE_SYSTEM = "You are a careful and impartial reviewer of answers written by AI assistants."
JUDGE_PROMPT = (
    "Rate how well the answer below responds to the user's request. Judge whether it actually helps the "
    "user, stays relevant to what was asked, is factually accurate, and goes into an appropriate level of "
    "detail. Write your rating as a whole number from 1 (useless) to 10 (excellent) alone on the first "
    "line, then explain the rating in a few sentences.\n\n"
    "[Request]\n{request}\n[End of request]\n\n[Answer]\n{answer}\n[End of answer]"
)
COMPARE_PROMPT = (
    "Two AI assistants answered the same request. Decide which answer serves the user better: judge "
    "helpfulness, relevance, accuracy and level of detail. The order in which the answers appear and "
    "their length must not influence you. Explain your reasoning briefly, then end with your verdict: "
    "[[A]] if assistant A is better, [[B]] if assistant B is better, [[C]] for a tie.\n\n"
    "[Request]\n{request}\n[End of request]\n\n[Answer A]\n{a}\n[End of answer A]\n\n"
    "[Answer B]\n{b}\n[End of answer B]"
)
SCORE_RETRY = "Your reply did not start with a rating. Reply with the rating only: a whole number from 1 to 10."
VERDICT_RETRY = "Your reply did not end with a verdict. Reply with the verdict only: [[A]], [[B]] or [[C]]."

_NUMBER = r"(\d+(?:\.\d+)?)"
_SCORE_PATTERNS = (re.compile(r"\[\[\s*" + _NUMBER + r"\s*\]\]"),
                   re.compile(r"\b(?:rating|score)\s*(?:is|of)?\s*[:=]?\s*\**\s*" + _NUMBER, re.I),
                   re.compile(_NUMBER + r"\s*/\s*10\b"))
_BARE = re.compile(r"^\W{0,3}" + _NUMBER + r"\W{0,3}$")
_VERDICT = re.compile(r"\[\[\s*([ABC])\s*\]\]")


def request_text(instruction: str, input: str = "") -> str:
    return f"{instruction}\n\n{input}" if input else instruction


def judge_messages(instruction: str, input: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": JUDGE_PROMPT.format(request=request_text(instruction, input), answer=answer)}]


def compare_messages(instruction: str, input: str, first: str, second: str) -> list[dict[str, str]]:
    text = COMPARE_PROMPT.format(request=request_text(instruction, input), a=first, b=second)
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": text}]


def parse_score(reply: Optional[str]) -> Optional[float]:
    """The rating in a judge's reply, or None (none found, or outside 1..10)."""
    if not reply:
        return None
    value = None
    for pattern in _SCORE_PATTERNS:
        found = pattern.search(reply)
        if found:
            value = float(found.group(1))
            break
    if value is None:
        first = reply.strip().splitlines()[0] if reply.strip() else ""
        bare = _BARE.match(first.strip())
        value = float(bare.group(1)) if bare else None
    return value if value is not None and 1.0 <= value <= 10.0 else None


def parse_verdict(reply: Optional[str]) -> Optional[str]:
    """"A", "B" or "C" (tie) from the last `[[X]]` in the reply; None without one."""
    found = _VERDICT.findall(reply or "")
    return found[-1] if found else None
