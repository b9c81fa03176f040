"""The base of bootstrapping sources: rounds of prompts -> candidates -> checks -> novelty -> rows.

A source (distilabel's generator step) produces rows instead of reading them. The engine
(pipelines/bootstrap.py) calls `start(seeds)` once, then `run_round(r)` per round with a barrier
between rounds, or `replay(result)` for a round already checkpointed. A method supplies `prompts(r)`
(in-context examples sampled with a generator seeded by `seed`, round and prompt number, so prompts and
cache keys repeat) and `parse(outcome)`; every candidate becomes one row, accepted or rejected with a
reason: the client's (`budget_exhausted`, `retries_exhausted:503`, ... for a failed request),
`unparseable`, `truncated` (the item cut by the token limit), the checks of checks.py, `too_similar`
(detail: the most similar pool instruction and its ROUGE-L) or `target_reached`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Optional

from pydantic import Field

from operators.llm.endpoint import LLMStageConfig
from operators.bootstrap.checks import CandidateChecks, check_instruction
from operators.bootstrap.seeds import SeedTask
from operators.llm.client import Outcome
from operators.llm.operator import LLMOperator
from operators.llm.service import Request
from operators.schema import DETAIL, REASON, STAGE, dumps_meta, make_record


POOLED = "_pooled"  # in a round's rows (and checkpoints): the instruction joined the pool


class SourceConfig(LLMStageConfig):
    seeds: str | tuple[str, ...]  # URI(s) of seed files (Self-Instruct seed schema or Alpaca rows)
    target: int = Field(gt=0)  # stop at this many accepted instructions
    max_rounds: int = Field(1000, gt=0)
    prompts_per_round: int = Field(16, gt=0)  # requests in flight together between two barriers
    seed: int = 0
    lang: str = "en"
    max_rouge: float = Field(0.7, gt=0, lt=1)  # rejected above this ROUGE-L F against the pool
    max_empty_rounds: int = Field(3, gt=0)  # stop after this many rounds without a parseable item
    checks: CandidateChecks = CandidateChecks()
    model: Optional[str] = None  # None: endpoint.model


@dataclass(frozen=True)
class Prompt:
    request: Request
    examples: tuple[str, ...]  # ids of the seed / generated tasks shown
    shown: tuple[str, ...] = ()  # their instructions, for methods that compare with them


@dataclass(frozen=True)
class Candidate:
    instruction: str = ""
    input: str = ""
    output: str = ""
    reason: Optional[str] = None  # set by the parser: unparseable, truncated, ...
    detail: Optional[dict[str, Any]] = None
    extra: dict[str, Any] = field(default_factory=dict)  # method-specific meta


@dataclass
class RoundResult:
    rows: list[dict[str, Any]]
    parsed: int = 0  # candidates that parsed (whatever their fate)
    budget_exhausted: bool = False


class BootstrapSource(LLMOperator):
    kind = "source"
    Config = SourceConfig
    output_columns = ("id", "instruction", "input", "output", "lang", "source", "meta")

    def start(self, seeds: list[SeedTask]) -> None:
        self.seeds = seeds
        from operators.bootstrap.novelty import NoveltyIndex  # numba kernels: not needed by `validate`
        self.index = NoveltyIndex(self.config.max_rouge)
        for task in seeds:
            self.index.add(task.instruction)
        self.accepted: list[dict[str, Any]] = []
        self.generated: list[str] = []  # instructions that joined the pool, in order (for sampling and target)
        self.usage = {"requests": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}

    # --- method hooks ------------------------------------------------------------------------------
    def prompts(self, round_no: int) -> list[Prompt]:
        raise NotImplementedError

    def parse(self, outcome: Outcome, prompt: Prompt) -> list[Candidate]:
        raise NotImplementedError

    def finish_round(self, round_no: int, result: RoundResult) -> RoundResult:
        """After novelty: more calls on the accepted rows (Self-Instruct's instances, paraphrases)."""
        return result

    # --- the round ---------------------------------------------------------------------------------
    def rng(self, round_no: int, prompt_no: int) -> random.Random:
        return random.Random(f"{self.config.seed}:{round_no}:{prompt_no}")

    def run_round(self, round_no: int) -> RoundResult:
        prompts = self.prompts(round_no)
        outcomes = self.complete([p.request for p in prompts])
        result = RoundResult([])
        for k, (prompt, outcome) in enumerate(zip(prompts, outcomes)):
            self._count(outcome)
            where = f"round:{round_no}/prompt:{k}"
            if outcome.reason:
                result.budget_exhausted |= outcome.reason == "budget_exhausted"
                result.rows.append(self.reject(Candidate(), where, outcome.reason, outcome.detail or None,
                                               {"round": round_no, "prompt_examples": list(prompt.examples)}))
                continue
            candidates = self.parse(outcome, prompt)
            result.parsed += sum(1 for c in candidates if c.reason != "unparseable")
            for i, candidate in enumerate(candidates):
                meta = {"round": round_no, "prompt_examples": list(prompt.examples)}
                result.rows.append(self.judge(candidate, f"{where}/item:{i}", meta))
        return self.finish_round(round_no, result)

    def judge(self, candidate: Candidate, where: str, meta: dict[str, Any]) -> dict[str, Any]:
        if candidate.reason:
            return self.reject(candidate, where, candidate.reason, candidate.detail, meta)
        reason, detail = check_instruction(candidate.instruction, self.config.lang, self.config.checks)
        if reason:
            return self.reject(candidate, where, reason, detail, meta)
        verdict = self.index.check(candidate.instruction)
        similar = [{"instruction": self.index.texts[p], "score": round(s, 6)} for p, s in verdict.similar]
        if not verdict.novel:
            return self.reject(candidate, where, "too_similar", {"most_similar": similar[0]["instruction"],
                                                                 "rouge_l": similar[0]["score"]}, meta)
        if len(self.generated) >= self.config.target:
            return self.reject(candidate, where, "target_reached", None, meta)
        self.index.add(candidate.instruction)
        self.generated.append(candidate.instruction)
        mean = sum(s["score"] for s in similar) / len(similar) if similar else 0.0
        meta = {**meta, "method": self.name, **candidate.extra,
                "similarity": {"most_similar": similar, "mean": round(mean, 6), "candidates": verdict.candidates}}
        row = {**self.record(candidate, where, meta), POOLED: True}
        self.accepted.append(row)
        return row

    def replay(self, result: RoundResult) -> None:
        """A checkpointed round: its pooled rows join the pool as if the round had just run."""
        for row in result.rows:
            if row.get(POOLED):
                self.index.add(row["instruction"])
                self.generated.append(row["instruction"])
            if row.get(REASON) is None:
                self.accepted.append(row)

    def record(self, candidate: Candidate, where: str, meta: dict[str, Any]) -> dict[str, Any]:
        return {**make_record(candidate.instruction, candidate.input, candidate.output, self.config.lang, where,
                              meta), STAGE: None, REASON: None, DETAIL: None}

    def reject(self, candidate: Candidate, where: str, reason: str, detail: Optional[dict],
               meta: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        row = self.record(candidate, where, {**(meta or {}), "method": self.name, **candidate.extra})
        return {**row, STAGE: self.stage, REASON: reason, DETAIL: dumps_meta(detail) if detail else None}

    def _count(self, outcome: Outcome) -> None:
        usage = self.usage
        if outcome.cached:
            usage["cached"] += 1
            return
        usage["requests"] += 1 if outcome.attempts else 0
        usage["prompt_tokens"] += int(outcome.usage.get("prompt_tokens") or 0)
        usage["completion_tokens"] += int(outcome.usage.get("completion_tokens") or 0)
        usage["cost_usd"] = round(usage["cost_usd"] + float(outcome.cost_usd or 0.0), 6)
