"""`generate_candidates`: several answers per instruction, from N named endpoints and/or N samples of one.

The answers go to the typed column `candidates` (schema.CANDIDATE_TYPE): `source` (the endpoint's name,
`name#k` for the k-th of several samples), `response`, `finish_reason`, `usage`. A candidate that fails
keeps its `reason` (`retries_exhausted:503`, `content_filter`, `truncated`, ...) and no response. A row
survives with at least `min_candidates` answers; otherwise it is rejected as `too_few_candidates`,
with each candidate's reason in the detail.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, model_validator

from operators.llm.client import Outcome
from operators.generate import AnswerConfig
from operators.llm.operator import LLMOperator, Verdict
from operators.llm.prompts import build_messages
from operators.llm.service import Request
from operators.registry import register


class CandidatesConfig(AnswerConfig):
    endpoints: tuple[str, ...] = ()  # named endpoints, each answering; empty: `endpoint` (default or named)
    samples: int = Field(1, ge=1, le=64)  # answers per endpoint (seeds seed, seed+1, ...)
    min_candidates: int = Field(1, ge=1)
    on_truncated: Literal["fail", "keep"] = "keep"  # finish_reason "length": a failed candidate, or kept

    @model_validator(mode="after")
    def _reachable_minimum(self) -> "CandidatesConfig":
        if self.min_candidates > len(self.endpoint_refs()) * self.samples:
            raise ValueError(f"min_candidates={self.min_candidates} is more than the {len(self.endpoint_refs())} "
                             f"endpoint(s) x {self.samples} sample(s) asked")
        if len(set(self.endpoints)) != len(self.endpoints):
            raise ValueError("an endpoint is listed twice: use `samples` for several answers from one")
        return self

    def endpoint_refs(self) -> tuple[Optional[str], ...]:
        return self.endpoints or (self.endpoint,)


@register
class GenerateCandidates(LLMOperator):
    name = "generate_candidates"
    Config = CandidatesConfig
    input_columns = ("instruction", "input", "meta")
    output_columns = ("candidates", "meta")

    def plan(self) -> list[tuple[Optional[str], str, dict[str, Any]]]:
        """(endpoint, source name, sampling parameters) per candidate."""
        cfg, out = self.config, []
        for name in cfg.endpoint_refs():
            label = name or self.endpoints[name].model
            for k in range(cfg.samples):
                params: dict[str, Any] = {"temperature": cfg.temperature, "top_p": cfg.top_p,
                                          "max_tokens": cfg.max_tokens}
                if cfg.seed is not None or cfg.samples > 1:
                    params["seed"] = (cfg.seed or 0) + k
                out.append((name, label if cfg.samples == 1 else f"{label}#{k + 1}", params))
        return out

    def format_inputs(self, row: dict[str, Any]) -> list[Optional[Request]]:
        plan = self.plan()
        if not row["instruction"].strip():
            return [None] * len(plan)
        cfg = self.config
        messages = build_messages(row["instruction"], row["input"], cfg.template, cfg.system_prompt)
        return [Request(messages, params, name) for name, _, params in plan]

    def format_outputs(self, row: dict[str, Any], outcomes: list[Optional[Outcome]]) -> Verdict:
        if not row["instruction"].strip():
            return "empty_instruction", None, {"candidates": []}
        candidates = [self.candidate(source, outcome) for (_, source, _), outcome in zip(self.plan(), outcomes)]
        ok = sum(1 for c in candidates if c["reason"] is None)
        if ok < self.config.min_candidates:
            failures = {c["source"]: c["reason"] for c in candidates if c["reason"]}
            return "too_few_candidates", {"succeeded": ok, "required": self.config.min_candidates,
                                          "failures": failures}, {"candidates": candidates}
        return None, None, {"candidates": candidates}

    def candidate(self, source: str, outcome: Optional[Outcome]) -> dict[str, Any]:
        reason = outcome.reason if outcome is not None else "not_sent"
        if reason is None and not (outcome.content or "").strip():
            reason = "empty_response"
        if reason is None and outcome.finish_reason == "length" and self.config.on_truncated == "fail":
            reason = "truncated"
        usage = {k: int((outcome.usage or {}).get(k) or 0) for k in ("prompt_tokens", "completion_tokens",
                                                                       "total_tokens")} if outcome else None
        return {"source": source, "response": outcome.content if outcome is not None and reason is None else None,
                "finish_reason": outcome.finish_reason if outcome is not None else None, "usage": usage,
                "reason": reason, "score": None, "score_spread": None, "score_reason": None}
