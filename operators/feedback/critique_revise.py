"""`critique_revise`: Constitutional-AI style critique and revision of each row's answer.

For every row a principle is drawn from `principles` (seeded by `seed` and the row's id, so a rerun
draws the same one); the model critiques the row's `output` against it, then, in the same conversation,
rewrites the answer to address the critique. The revision becomes `output` (chosen); the original is
kept as rejected in `meta.critique_revise` with the principle and the critique, which the `pairs` /
`pairs_chat` exports read with `pairs_from: revisions`. Rejected: `empty_output` (nothing to critique),
the API failure of either step, `empty_revision`, `revision_unchanged`.
"""
from __future__ import annotations

import hashlib
from typing import Any, Optional

from pydantic import Field

from operators.feedback.prompts import request_text
from operators.llm.client import Outcome
from operators.llm.endpoint import LLMStageConfig
from operators.llm.operator import LLMOperator, Verdict
from operators.llm.service import Request
from operators.registry import register

PRINCIPLES = (
    "Point out anything in the answer that is harmful, unethical, dangerous or illegal.",
    "Point out claims in the answer that are false, unsupported or misleading.",
    "Point out where the answer fails to do what the user asked, or does something else.",
    "Point out where the answer is vague, padded or missing details the user needs.",
    "Point out anything in the answer that is disrespectful, biased or condescending.",
)
CRITIQUE_PROMPT = ("A user made a request and an assistant answered it.\n\n[Request]\n{request}\n[End of request]"
                   "\n\n[Answer]\n{answer}\n[End of answer]\n\nCritique the answer: {principle} Be specific and "
                   "brief. Do not rewrite the answer yet.")
REVISION_PROMPT = ("Now rewrite the answer so that it fixes every problem your critique found and keeps what was "
                   "good. Reply with the revised answer only.")


class CritiqueReviseConfig(LLMStageConfig):
    principles: tuple[str, ...] = Field(PRINCIPLES, min_length=1)
    seed: int = 0  # which principle a row gets: a hash of (seed, row id)
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(512, ge=1)


@register
class CritiqueRevise(LLMOperator):
    name = "critique_revise"
    Config = CritiqueReviseConfig
    input_columns = ("id", "instruction", "input", "output", "meta")
    output_columns = ("output", "meta")

    def principle(self, row_id: str) -> str:
        digest = hashlib.blake2b(f"{self.config.seed}\0{row_id}".encode(), digest_size=8).digest()
        return self.config.principles[int.from_bytes(digest, "big") % len(self.config.principles)]

    def format_input(self, row: dict[str, Any]) -> Optional[Request]:
        if not row["output"].strip():
            return None
        text = CRITIQUE_PROMPT.format(request=request_text(row["instruction"], row["input"]), answer=row["output"],
                                      principle=self.principle(row["id"]))
        params = {"temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        return Request([{"role": "user", "content": text}], params, self.config.endpoint)

    def follow_up(self, request: Request, outcome: Optional[Outcome]) -> Optional[Request]:
        if outcome is None or outcome.reason is not None or not (outcome.content or "").strip():
            return None
        messages = [*request.messages, {"role": "assistant", "content": outcome.content},
                    {"role": "user", "content": REVISION_PROMPT}]
        return Request(messages, request.params, request.endpoint)

    def format_chains(self, row: dict[str, Any], chains: list[list[Outcome]]) -> Verdict:
        chain = chains[0]
        if not chain:
            return "empty_output", None, {}
        critique = chain[0]
        if critique.reason:
            return critique.reason, {"step": "critique", **(critique.detail or {})}, {}
        if len(chain) < 2:
            return "empty_critique", None, {}
        revision = chain[1]
        if revision.reason:
            return revision.reason, {"step": "revision", **(revision.detail or {})}, {}
        revised = (revision.content or "").strip()
        record = {"principle": self.principle(row["id"]), "critique": critique.content, "original": row["output"],
                  "revision": revision.content}
        if not revised:
            return "empty_revision", None, {"meta": {"critique_revise": record}}
        if revised == row["output"].strip():
            return "revision_unchanged", None, {"meta": {"critique_revise": record}}
        return None, None, {"output": revised, "meta": {"critique_revise": record}}
