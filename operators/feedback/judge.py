"""`judge`: single-answer grading of every candidate, 1-10 (GPT-4-LLM's feedback data).

The judge (`endpoint: NAME`, temperature 0) rates each answered candidate on helpfulness, relevance,
accuracy and level of detail (prompts.py). A reply without a readable rating in 1..10 is asked once
more; still unreadable, that candidate's `score` stays null with `score_reason: judge_unparsed`. With
`samples: k` each candidate is judged k times (seeds seed..seed+k-1): `score` is the mean of the
readable ratings and `score_spread` their standard deviation. A row is kept when at least one candidate
got a score; otherwise it is rejected (`judge_unparsed`, or the API failure, e.g. `retries_exhausted:503`).
"""
from __future__ import annotations

import statistics
from typing import Any, Optional

from pydantic import Field

from operators.llm.client import Outcome
from operators.llm.endpoint import LLMStageConfig
from operators.llm.operator import LLMOperator, Verdict
from operators.llm.service import Request
from operators.feedback.prompts import SCORE_RETRY, judge_messages, parse_score
from operators.registry import register

UNPARSED = "judge_unparsed"


class JudgeConfig(LLMStageConfig):
    samples: int = Field(1, ge=1, le=16)
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(256, ge=1)
    seed: Optional[int] = None


def retry_unparsed(request: Request, outcome: Optional[Outcome], parse, reminder: str) -> Optional[Request]:
    """The same conversation with the reply `parse` could not read and a reminder of the format; None
    when there is nothing to retry (no answer, or a readable one)."""
    if outcome is None or outcome.reason is not None or parse(outcome.content) is not None:
        return None
    messages = [*request.messages, {"role": "assistant", "content": outcome.content or ""},
                {"role": "user", "content": reminder}]
    return Request(messages, request.params, request.endpoint)


@register
class Judge(LLMOperator):
    name = "judge"
    Config = JudgeConfig
    input_columns = ("instruction", "input", "candidates", "meta")
    output_columns = ("candidates", "meta")
    row_fields = ("id", "instruction", "input", "candidates", "meta")

    def params(self, k: int) -> dict[str, Any]:
        cfg = self.config
        params: dict[str, Any] = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
        if cfg.seed is not None or cfg.samples > 1:
            params["seed"] = (cfg.seed or 0) + k
        return params

    def format_inputs(self, row: dict[str, Any]) -> list[Optional[Request]]:
        requests: list[Optional[Request]] = []
        for candidate in row["candidates"] or []:
            for k in range(self.config.samples):
                requests.append(None if candidate["response"] is None else Request(
                    judge_messages(row["instruction"], row["input"], candidate["response"]), self.params(k),
                    self.config.endpoint))
        return requests or [None]

    def follow_up(self, request: Request, outcome: Optional[Outcome]) -> Optional[Request]:
        return retry_unparsed(request, outcome, parse_score, SCORE_RETRY)

    def format_outputs(self, row: dict[str, Any], outcomes: list[Optional[Outcome]]) -> Verdict:
        candidates = [dict(c) for c in row["candidates"] or []]
        if not candidates:
            return "no_candidates", None, {"candidates": []}
        k, failures = self.config.samples, []
        for i, candidate in enumerate(candidates):
            if candidate["response"] is None:
                continue
            judged = outcomes[i * k:(i + 1) * k]
            scores = [parse_score(o.content) for o in judged if o is not None and o.reason is None]
            scores = [s for s in scores if s is not None]
            if scores:
                candidate.update(score=round(statistics.fmean(scores), 4), score_reason=None,
                                 score_spread=round(statistics.pstdev(scores), 4) if k > 1 else None)
                continue
            api = next((o.reason for o in judged if o is not None and o.reason), None)
            candidate.update(score=None, score_spread=None, score_reason=api or UNPARSED)
            failures.append(candidate["score_reason"])
        if not any(c["score"] is not None for c in candidates):
            reason = UNPARSED if UNPARSED in failures or not failures else failures[0]
            return reason, {"candidates": len(candidates), "failures": sorted(set(failures))}, \
                {"candidates": candidates}
        return None, None, {"candidates": candidates}
