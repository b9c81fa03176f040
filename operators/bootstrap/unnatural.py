"""`unnatural`: Unnatural Instructions (Honovich et al. 2022): three demonstrations, an open fourth.

Each prompt shows `demonstrations` (3) seed tasks as Example 1..3, each with instruction, input and
constraints, and leaves Example 4 open; one new task per call (nucleus sampling, top_p 0.99). A
generation missing a field is `missing_field`, a copy of one of its demonstrations
`copy_of_demonstration`, an exact repeat of an earlier task `duplicate`; then the shared checks and
novelty. The instruction row joins instruction and constraints (the dataset's
`instruction_with_constraints`); `output` stays empty for an answering stage (`generate_response`).
Expansion: each accepted task is sent back once for `paraphrases` (2) alternative formulations;
each becomes a row with `meta.paraphrase_of` = the task's id, checked by the shared checks and for
duplicates but not by novelty (a paraphrase is meant to be close), and not added to the pool.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from operators.bootstrap.checks import check_instruction
from operators.bootstrap.source import BootstrapSource, Candidate, Prompt, RoundResult, SourceConfig
from operators.llm.client import Outcome
from operators.llm.service import Request
from operators.registry import register
from operators.schema import REASON

NO_INPUT = "None."
_FIELDS = re.compile(r"^\s*(Instruction|Input|Constraints)\s*:", re.M)
_ITEM = re.compile(r"^\s*\d+\s*[.)]\s*(.+)$", re.M)

PROMPT = """Each example below is a task for a text assistant: an instruction, an input for it and \
constraints on the answer. Write Example {open} in the same layout: a task that is new and \
different from the ones shown, with an input that fits it.

{examples}
Example {open}:
"""
PARAPHRASE = """Rewrite the task below in {n} different ways. Each rewrite must ask for exactly the \
same thing but use other words or another sentence structure. Give them as a numbered list, one per line.

Task: {instruction}
"""


class UnnaturalConfig(SourceConfig):
    demonstrations: int = Field(3, gt=0)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(0.99, gt=0, le=1)
    max_tokens: int = Field(512, gt=0)
    paraphrases: int = Field(2, ge=0)  # 0: no expansion step


def example_text(n: int, instruction: str, input: str, constraints: str) -> str:
    return f"Example {n}:\nInstruction: {instruction}\nInput: {input or NO_INPUT}\nConstraints: {constraints or NO_INPUT}\n"


def parse_example(text: str) -> dict[str, str]:
    marks = list(_FIELDS.finditer(text))
    return {m.group(1).lower(): text[m.end():marks[n + 1].start() if n + 1 < len(marks) else len(text)].strip()
            for n, m in enumerate(marks)}


def joined(instruction: str, constraints: str) -> str:
    return instruction if constraints in ("", NO_INPUT) else f"{instruction} {constraints}"


@register
class UnnaturalSource(BootstrapSource):
    name = "unnatural"
    Config = UnnaturalConfig

    def params(self) -> dict[str, Any]:
        cfg = self.config
        return {"temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_tokens}

    def prompts(self, round_no: int) -> list[Prompt]:
        cfg = self.config
        prompts = []
        for k in range(cfg.prompts_per_round):
            demos = self.rng(round_no, k).sample(self.seeds, min(cfg.demonstrations, len(self.seeds)))
            examples = "".join(example_text(n + 1, d.instruction, d.instances[0][0] if d.instances else "",
                                            d.constraints) for n, d in enumerate(demos))
            text = PROMPT.format(open=len(demos) + 1, examples=examples)
            prompts.append(Prompt(Request([{"role": "user", "content": text}], self.params()),
                                  tuple(d.id for d in demos), tuple(d.instruction for d in demos)))
        return prompts

    def run_round(self, round_no: int) -> RoundResult:
        self._seen = {(r["instruction"], r["input"]) for r in self.accepted}
        return super().run_round(round_no)

    def parse(self, outcome: Outcome, prompt: Prompt) -> list[Candidate]:
        demos = {text.strip().lower() for text in prompt.shown}
        fields = parse_example((outcome.content or "").split("\nExample ")[0])
        missing = [f for f in ("instruction", "input", "constraints") if not fields.get(f)]
        if missing:
            return [Candidate((outcome.content or "")[:2000], reason="missing_field", detail={"missing": missing})]
        inp = "" if fields["input"] == NO_INPUT else fields["input"]
        instruction = joined(fields["instruction"], fields["constraints"])
        extra = {"constraints": fields["constraints"]}
        if fields["instruction"].strip().lower() in demos:
            return [Candidate(instruction, inp, reason="copy_of_demonstration", extra=extra)]
        if outcome.finish_reason == "length":
            return [Candidate(instruction, inp, reason="truncated", detail={"finish_reason": "length"})]
        if (instruction, inp) in self._seen:
            return [Candidate(instruction, inp, reason="duplicate", extra=extra)]
        self._seen.add((instruction, inp))
        return [Candidate(instruction, inp, extra=extra)]

    def finish_round(self, round_no: int, result: RoundResult) -> RoundResult:
        n = self.config.paraphrases
        parents = [row for row in result.rows if row.get(REASON) is None] if n else []
        asked = self.complete([Request([{"role": "user", "content": PARAPHRASE.format(n=n, instruction=p["instruction"])}],
                                       self.params()) for p in parents])
        for parent, outcome in zip(parents, asked):
            self._count(outcome)
            where = parent["source"] + "/paraphrase"
            meta = {"round": round_no, "paraphrase_of": parent["id"]}
            if outcome.reason:
                result.rows.append(self.reject(Candidate(), where, outcome.reason, outcome.detail or None, meta))
                continue
            for j, text in enumerate(_ITEM.findall(outcome.content or "")[:n]):
                result.rows.append(self._paraphrase(Candidate(text.strip(), parent["input"]), f"{where}:{j}", meta))
        return result

    def _paraphrase(self, candidate: Candidate, where: str, meta: dict[str, Any]) -> dict[str, Any]:
        reason, detail = check_instruction(candidate.instruction, self.config.lang, self.config.checks)
        key = (candidate.instruction, candidate.input)
        if reason is None and key in self._seen:
            reason = "duplicate"
        if reason:
            return self.reject(candidate, where, reason, detail, meta)
        self._seen.add(key)
        row = self.record(candidate, where, {**meta, "method": self.name})
        self.accepted.append(row)
        return row
