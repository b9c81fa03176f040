"""`self_instruct`: Self-Instruct's bootstrapping (Wang et al. 2022), its three calls per task.

1. Instruction generation: a numbered list of 8 tasks, 6 sampled from the human seeds and 2 from
   those generated so far (all 8 from the seeds while there are none), and the request to go on
   from 9; temperature 0.7, top_p 0.5, presence penalty 2, max_tokens 1024. A response cut by the
   token limit loses its last item (`truncated`).
2. Classification identification of each instruction that passed the checks and novelty: a few-shot
   yes/no prompt from the seeds' labels, temperature 0, max_tokens 3.
3. Instance generation: output-first for classification tasks (a class label, then an input of that
   class), input-first otherwise; temperature 0, up to `max_instances` (5). The clean-up of the
   reference's fine-tuning preparation: instances with input == output or an empty output go; a task
   whose same input has different outputs is rejected (`conflicting_instances`), as is one left with
   no instance (`no_instances`). The first instance fills input/output, all go to `meta.instances`.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from pydantic import Field

from operators.bootstrap.instances import (classification_prompt, clean_instances, instance_prompt,
                                           parse_instances, parse_yes_no)
from operators.bootstrap.source import BootstrapSource, Candidate, Prompt, RoundResult, SourceConfig
from operators.llm.client import Outcome
from operators.llm.service import Request
from operators.registry import register
from operators.schema import DETAIL, REASON, STAGE, dumps_meta, loads_meta, record_id

_ITEM = re.compile(r"^\s*(\d+)\s*[.)]\s*(.*)$")

PROMPT = """Below is a numbered list of tasks people have asked an AI assistant to do. Add more \
tasks to the list: new ones, different from those already there and from each other, each on its own \
numbered line, continuing from {next}.

{tasks}
"""


class SelfInstructConfig(SourceConfig):
    seed_examples: int = Field(6, ge=0)
    generated_examples: int = Field(2, ge=0)
    prompts_per_round: int = Field(5, gt=0)  # the reference's request batch
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(0.5, gt=0, le=1)
    presence_penalty: float = Field(2.0, ge=-2, le=2)
    max_tokens: int = Field(1024, gt=0)
    classify: bool = True  # classification identification (else every task is input-first)
    max_instances: int = Field(5, gt=0)
    instance_max_tokens: int = Field(350, gt=0)
    instance_presence_penalty: float = Field(1.5, ge=-2, le=2)


@register
class SelfInstructSource(BootstrapSource):
    name = "self_instruct"
    Config = SelfInstructConfig

    def prompts(self, round_no: int) -> list[Prompt]:
        cfg = self.config
        prompts = []
        for k in range(cfg.prompts_per_round):
            rng = self.rng(round_no, k)
            from_generated = min(cfg.generated_examples, len(self.generated))
            total = cfg.seed_examples + cfg.generated_examples
            seeds = rng.sample(self.seeds, min(total - from_generated, len(self.seeds)))
            generated = rng.sample(self.generated, from_generated)
            shown = [t.instruction for t in seeds] + generated
            rng.shuffle(shown)
            tasks = "\n".join(f"{n + 1}. {text}" for n, text in enumerate(shown))
            params = {"temperature": cfg.temperature, "top_p": cfg.top_p,
                      "presence_penalty": cfg.presence_penalty, "max_tokens": cfg.max_tokens}
            prompts.append(Prompt(Request([{"role": "user", "content": PROMPT.format(next=len(shown) + 1,
                                                                                     tasks=tasks)}], params),
                                  tuple(t.id for t in seeds) + tuple(f"generated:{g}" for g in generated)))
        return prompts

    def parse(self, outcome: Outcome, prompt: Prompt | None = None) -> list[Candidate]:
        items: list[list[str]] = []
        for line in (outcome.content or "").splitlines():
            found = _ITEM.match(line)
            if found:
                items.append([found.group(2)])
            elif items and line.strip():
                items[-1].append(line.strip())
        candidates = [Candidate(" ".join(parts).strip()) for parts in items]
        if not candidates and (outcome.content or "").strip():
            return [Candidate((outcome.content or "").strip()[:2000], reason="unparseable",
                              detail={"why": "no numbered item"})]
        if outcome.finish_reason == "length" and candidates:
            candidates[-1] = Candidate(candidates[-1].instruction, reason="truncated",
                                       detail={"finish_reason": "length"})
        return candidates

    def finish_round(self, round_no: int, result: RoundResult) -> RoundResult:
        cfg = self.config
        live = [n for n, row in enumerate(result.rows) if row.get(REASON) is None]
        texts = [result.rows[n]["instruction"] for n in live]
        if cfg.classify:
            asked = self.complete([classification_prompt(t, self.seeds) for t in texts])
            labels = [parse_yes_no(o) for o in asked]
        else:
            asked, labels = [None] * len(texts), [False] * len(texts)
        params = {"temperature": 0.0, "top_p": 0.0, "presence_penalty": cfg.instance_presence_penalty,
                  "max_tokens": cfg.instance_max_tokens}
        made = self.complete([instance_prompt(t, c, self.seeds, params) for t, c in zip(texts, labels)])
        for n, text, label, first, second in zip(live, texts, labels, asked, made):
            for outcome in (first, second):
                if outcome is not None:
                    self._count(outcome)
            result.rows[n] = self._with_instances(result.rows[n], label, first, second)
        return result

    def _with_instances(self, row: dict[str, Any], is_classification: bool, first: Optional[Outcome],
                        second: Outcome) -> dict[str, Any]:
        failed = next((o for o in (first, second) if o is not None and o.reason), None)
        meta = loads_meta(row["meta"])
        meta["is_classification"] = is_classification
        if failed is not None:
            return self._fail(row, meta, failed.reason, failed.detail or None)
        instances, problem = clean_instances(parse_instances(second.content or "", is_classification),
                                             self.config.max_instances)
        if problem:
            return self._fail(row, meta, problem, {"instances": len(instances)})
        meta["instances"] = [{"input": i, "output": o} for i, o in instances]
        (inp, out), lang = instances[0], self.config.lang
        updated = {**row, "id": record_id(row["instruction"], inp, lang), "input": inp, "output": out,
                   "meta": dumps_meta(meta)}
        self.accepted[self.accepted.index(row)] = updated
        return updated

    def _fail(self, row: dict[str, Any], meta: dict[str, Any], reason: str, detail) -> dict[str, Any]:
        self.accepted.remove(row)
        return {**row, "meta": dumps_meta(meta), STAGE: self.stage, REASON: reason,
                DETAIL: dumps_meta(detail) if detail else None}
