"""`compare`: pairwise verdicts between candidates, each pair judged in both orders (MT-Bench's control).

For every pair (a, b) of answered candidates (or the `pairs` given), the judge sees a first, then in a
second request b first. Each verdict (`[[A]]`, `[[B]]`, `[[C]]` = tie) is read back in terms of a and b;
a reply without one is asked once more. Both agree: that is the result; they disagree: a tie recorded
as `inconsistent`; one unreadable: `judge_unparsed`. Results go to the typed column `comparisons`
(schema.COMPARISON_TYPE). The statistics over them (consistency, first-position wins, adjusted win
rates, the longer answer's win rate) are in the manifest's `feedback` section (summary.py).
"""
from __future__ import annotations

from itertools import combinations
from typing import Any, Literal, Optional, Union

from pydantic import Field

from operators.llm.client import Outcome
from operators.llm.endpoint import LLMStageConfig
from operators.llm.operator import LLMOperator, Verdict
from operators.llm.service import Request
from operators.feedback.judge import UNPARSED, retry_unparsed
from operators.feedback.prompts import VERDICT_RETRY, compare_messages, parse_verdict
from operators.registry import register

AS_FIRST = {"A": "first", "B": "second", "C": "tie"}


class CompareConfig(LLMStageConfig):
    pairs: Union[Literal["all"], tuple[tuple[str, str], ...]] = "all"  # "all" pairs of answered candidates, or [[a, b], ...]
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=1)
    seed: Optional[int] = None


def result_of(ab: Optional[str], ba: Optional[str]) -> str:
    """The pair's result from the two verdicts, each already "a", "b", "tie" or None (unreadable)."""
    if ab is None or ba is None:
        return UNPARSED
    return ab if ab == ba else "inconsistent"


@register
class Compare(LLMOperator):
    name = "compare"
    Config = CompareConfig
    input_columns = ("instruction", "input", "candidates", "meta")
    output_columns = ("comparisons", "meta")
    row_fields = ("id", "instruction", "input", "candidates", "meta")

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        if self.config.seed is not None:
            params["seed"] = self.config.seed
        return params

    def pairs(self, row: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        answered = {c["source"]: c for c in row["candidates"] or [] if c["response"] is not None}
        if self.config.pairs == "all":
            return list(combinations(answered.values(), 2))
        return [(answered[a], answered[b]) for a, b in self.config.pairs if a in answered and b in answered]

    def format_inputs(self, row: dict[str, Any]) -> list[Optional[Request]]:
        requests = []
        for a, b in self.pairs(row):
            for first, second in ((a, b), (b, a)):
                messages = compare_messages(row["instruction"], row["input"], first["response"], second["response"])
                requests.append(Request(messages, self.params(), self.config.endpoint))
        return requests or [None]

    def follow_up(self, request: Request, outcome: Optional[Outcome]) -> Optional[Request]:
        return retry_unparsed(request, outcome, parse_verdict, VERDICT_RETRY)

    def format_outputs(self, row: dict[str, Any], outcomes: list[Optional[Outcome]]) -> Verdict:
        comparisons, failures = [], []
        for i, (a, b) in enumerate(self.pairs(row)):
            ab, ba = outcomes[2 * i], outcomes[2 * i + 1]
            failures += [o.reason for o in (ab, ba) if o is not None and o.reason]
            seen_ab = self.verdict(ab, {"first": "a", "second": "b"})
            seen_ba = self.verdict(ba, {"first": "b", "second": "a"})
            comparisons.append({"a": a["source"], "b": b["source"], "ab": seen_ab, "ba": seen_ba,
                                "result": result_of(seen_ab, seen_ba), "judge": self.config.endpoint or "endpoint",
                                "a_chars": len(a["response"]), "b_chars": len(b["response"])})
        if comparisons and len(failures) == 2 * len(comparisons):
            return failures[0], {"pairs": len(comparisons)}, {"comparisons": comparisons}
        return None, None, {"comparisons": comparisons}

    @staticmethod
    def verdict(outcome: Optional[Outcome], names: dict[str, str]) -> Optional[str]:
        if outcome is None or outcome.reason is not None:
            return None
        seen = AS_FIRST.get(parse_verdict(outcome.content) or "")
        return None if seen is None else "tie" if seen == "tie" else names[seen]
