"""`alpaca`: Stanford Alpaca's bootstrapping, one call per prompt for whole tasks.

Each prompt shows `examples_per_prompt` (3) seed tasks as a numbered list, each with instruction,
input (`<noinput>` when none) and output, and asks the model to continue the list up to
`num_instructions` (20) items in the same layout; sampling as the reference: temperature 1.0,
top_p 1.0. The last item of a response cut by the token limit is rejected as `truncated`; items
without the three fields are `unparseable`. Alpaca's extended keyword blacklist is the default.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from operators.bootstrap.checks import CandidateChecks
from operators.bootstrap.source import BootstrapSource, Candidate, Prompt, SourceConfig
from operators.filters.instruction import EN_BLACKLIST
from operators.llm.client import Outcome
from operators.llm.service import Request
from operators.registry import register

NO_INPUT = "<noinput>"
SEPARATOR = "###"
_FIELD = re.compile(r"^\s*(\d+)\s?\.\s*(Instruction|Input|Output):", re.M)

PROMPT = """Please invent {total} different tasks that a capable text-only AI assistant could be asked \
to carry out. They will be used to teach and test such an assistant.

Guidelines:
1. Vary the verbs and the phrasing: the tasks should not all start the same way.
2. Vary the kind of task as well: open questions, brainstorming, classification, editing, rewriting, \
summarising, reasoning, maths, coding and so on.
3. The assistant can only read and write text. Leave out anything that needs seeing or making images, \
sound or video, acting in the world, or knowing what happens later.
4. Write each instruction in English, in one or two sentences; a question or an order is fine.
5. When a task needs something to work on, give it as the input: a concrete, realistic piece of \
text of at most 100 words, never a placeholder. When it needs nothing, write {no_input} as the input.
6. The output must be a good answer to the instruction and its input, in less than 100 words.

Keep exactly the layout of the examples below, with a line holding only {sep} between tasks, and \
continue the numbering from {next} to {total}.

{examples}
{sep}
"""


class AlpacaConfig(SourceConfig):
    examples_per_prompt: int = Field(3, gt=0)
    num_instructions: int = Field(20, gt=1)  # the list's length, examples included
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(3072, gt=0)
    checks: CandidateChecks = CandidateChecks(blacklist=EN_BLACKLIST)


def format_task(number: int, instruction: str, input: str, output: str) -> str:
    return (f"{number}. Instruction: {instruction}\n{number}. Input:\n{input or NO_INPUT}\n"
            f"{number}. Output:\n{output}")


def parse_item(text: str) -> Candidate:
    fields = {m.group(2): m for m in _FIELD.finditer(text)}
    labels = [m.group(2) for m in _FIELD.finditer(text)]
    if labels != ["Instruction", "Input", "Output"]:
        return Candidate(instruction=text.strip()[:2000], reason="unparseable", detail={"fields": labels})
    ins, inp, out = fields["Instruction"], fields["Input"], fields["Output"]
    input_text = text[inp.end():out.start()].strip()
    return Candidate(instruction=text[ins.end():inp.start()].strip(),
                     input="" if input_text.lower() == NO_INPUT else input_text,
                     output=text[out.end():].strip())


@register
class AlpacaSource(BootstrapSource):
    name = "alpaca"
    Config = AlpacaConfig

    def params(self) -> dict[str, Any]:
        cfg = self.config
        return {"temperature": cfg.temperature, "top_p": cfg.top_p, "max_tokens": cfg.max_tokens}

    def prompts(self, round_no: int) -> list[Prompt]:
        cfg = self.config
        shown = min(cfg.examples_per_prompt, len(self.seeds))
        prompts = []
        for k in range(cfg.prompts_per_round):
            tasks = self.rng(round_no, k).sample(self.seeds, shown)
            examples = f"\n{SEPARATOR}\n".join(
                format_task(n + 1, t.instruction, *(t.instances[0] if t.instances else ("", "")))
                for n, t in enumerate(tasks))
            text = PROMPT.format(total=cfg.num_instructions, no_input=NO_INPUT, sep=SEPARATOR,
                                 next=shown + 1, examples=examples)
            prompts.append(Prompt(Request([{"role": "user", "content": text}], self.params()),
                                  tuple(t.id for t in tasks)))
        return prompts

    def parse(self, outcome: Outcome, prompt: Prompt | None = None) -> list[Candidate]:
        items = [part for part in (outcome.content or "").split(SEPARATOR) if part.strip()]
        candidates = [parse_item(item) for item in items]
        if outcome.finish_reason == "length" and candidates:
            last = candidates[-1]
            candidates[-1] = Candidate(last.instruction, last.input, last.output, "truncated",
                                       {"finish_reason": "length"})
        return candidates
