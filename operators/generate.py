"""`generate_response`: a teacher model answers each instruction (GPT-4-LLM's data generation).

Prompts are the two Alpaca templates (with / without input) as chat messages, with an optional system
prompt; sampling defaults are the paper's (temperature 1.0, top_p 1.0, max_tokens 512). The answer
goes to `output`; `meta.llm.<stage>` records model, finish_reason, usage, latency, attempts, cost and
whether it came from the cache. Failed rows are rejected with the reason from the client
(`api_error:400`, `retries_exhausted:503`, `content_filter`, `prompt_too_long`, `budget_exhausted`,
`truncated`), never dropped.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field

from operators.llm.endpoint import LLMStageConfig
from operators.llm.client import Outcome
from operators.llm.operator import LLMOperator, Verdict
from operators.llm.prompts import build_messages
from operators.llm.service import Request
from operators.registry import register


class AnswerConfig(LLMStageConfig):
    """How a teacher is asked to answer an instruction (generate_response, generate_candidates)."""
    template: Literal["alpaca", "alpaca_zh", "plain"] = "alpaca"
    system_prompt: Optional[str] = None
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(512, ge=1)
    seed: Optional[int] = None


class GenerateConfig(AnswerConfig):
    on_truncated: Literal["reject", "keep"] = "reject"  # finish_reason "length"


@register
class GenerateResponse(LLMOperator):
    name = "generate_response"
    Config = GenerateConfig
    input_columns = ("instruction", "input", "meta")
    output_columns = ("output", "meta")

    def params(self) -> dict[str, Any]:
        cfg = self.config
        params: dict[str, Any] = {"temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_tokens}
        if cfg.seed is not None:
            params["seed"] = cfg.seed
        return params

    def format_input(self, row: dict[str, Any]) -> Optional[Request]:
        if not row["instruction"].strip():
            return None
        cfg = self.config
        return Request(build_messages(row["instruction"], row["input"], cfg.template, cfg.system_prompt),
                       self.params())

    def format_output(self, row: dict[str, Any], outcome: Optional[Outcome]) -> Verdict:
        if outcome is None:
            return "empty_instruction", None, {"output": row["output"]}
        update = {"output": outcome.content if outcome.content is not None else row["output"]}
        if outcome.reason:
            return outcome.reason, outcome.detail or None, update
        if outcome.finish_reason == "length" and self.config.on_truncated == "reject":
            return "truncated", {"finish_reason": "length", "max_tokens": self.config.max_tokens}, update
        return None, None, update
