"""Self-Instruct's second and third calls: is the task a classification, and its instances.

Prompts are few-shot from the seed tasks (the first seeds with the wanted property, so prompts and
cache keys never change between rounds); parsing and the clean-up are pure functions.
"""
from __future__ import annotations

import re
from typing import Optional

from operators.bootstrap.seeds import SeedTask
from operators.llm.client import Outcome
from operators.llm.service import Request

NO_INPUT = "<noinput>"
CLASSIFY_SHOTS = 8
_EXAMPLE = re.compile(r"^\s*Example\s*\d+\s*:?\s*$", re.M | re.I)
_LABEL = re.compile(r"^\s*Class label\s*:", re.M | re.I)
_FIELD = re.compile(r"^\s*(Input|Output)\s*:", re.M | re.I)

CLASSIFY = """Decide whether each task asks to put its input into one of a small, fixed set of \
classes (for example yes/no, positive/negative, or a list of categories). Answer Yes or No.

{shots}
Task: {instruction}
Is it classification?"""

INPUT_FIRST = """Write up to {n} examples of the task below. Each example starts with a line "Example N:", \
then "Input:" followed by a realistic input (write {no_input} when the task needs none), then \
"Output:" followed by a correct answer for that input.

Task: {demo_instruction}
{demo}

Task: {instruction}
"""

OUTPUT_FIRST = """The task below sorts inputs into classes. Write up to {n} examples: for each, first a \
line "Class label:" with one of the possible classes, then "Input:" followed by an input that belongs \
to that class. Cover different classes.

Task: {demo_instruction}
{demo}

Task: {instruction}
"""


def classification_prompt(instruction: str, seeds: list[SeedTask]) -> Request:
    yes = [s for s in seeds if s.is_classification][:CLASSIFY_SHOTS // 2]
    no = [s for s in seeds if not s.is_classification][:CLASSIFY_SHOTS - len(yes)]
    shots = "".join(f"Task: {s.instruction}\nIs it classification? {'Yes' if s.is_classification else 'No'}\n\n"
                    for pair in zip(no, yes) for s in pair)
    content = CLASSIFY.format(shots=shots, instruction=instruction)
    return Request([{"role": "user", "content": content}], {"temperature": 0.0, "top_p": 0.0, "max_tokens": 3})


def parse_yes_no(outcome: Optional[Outcome]) -> bool:
    return bool(outcome is not None and (outcome.content or "").strip().lower().startswith("yes"))


def instance_prompt(instruction: str, is_classification: bool, seeds: list[SeedTask], params: dict) -> Request:
    demo_task = next((s for s in seeds if s.is_classification == is_classification and s.instances), None)
    demo_instruction, demo = "", ""
    if demo_task is not None:
        demo_instruction = demo_task.instruction
        if is_classification:
            demo = "\n".join(f"Class label: {o}\nInput: {i or NO_INPUT}" for i, o in demo_task.instances[:3])
        else:
            demo = "\n".join(f"Example {n + 1}:\nInput: {i or NO_INPUT}\nOutput: {o}"
                             for n, (i, o) in enumerate(demo_task.instances[:3]))
    template = OUTPUT_FIRST if is_classification else INPUT_FIRST
    content = template.format(n=5, no_input=NO_INPUT, demo_instruction=demo_instruction, demo=demo,
                              instruction=instruction)
    return Request([{"role": "user", "content": content}], params)


def parse_instances(text: str, is_classification: bool) -> list[tuple[str, str]]:
    """(input, output) pairs; output-first blocks give (input, label)."""
    if is_classification:
        blocks = [b for b in _LABEL.split(text)[1:]]
        pairs = []
        for block in blocks:
            label, _, rest = block.partition("\n")
            fields = _fields(rest)
            pairs.append((fields.get("input", ""), label.strip()))
        return pairs
    pairs = []
    for block in _EXAMPLE.split(text)[1:] if _EXAMPLE.search(text) else [text]:
        fields = _fields(block)
        if "output" in fields:
            pairs.append((fields.get("input", ""), fields["output"]))
    return pairs


def _fields(block: str) -> dict[str, str]:
    marks = list(_FIELD.finditer(block))
    out = {}
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(block)
        value = block[mark.end():end].strip()
        out[mark.group(1).lower()] = "" if value.lower() == NO_INPUT else value
    return out


def clean_instances(pairs: list[tuple[str, str]], limit: int) -> tuple[list[tuple[str, str]], Optional[str]]:
    """Self-Instruct's clean-up: drop input == output, empty outputs and either ending with a colon
    (an unfinished generation); different outputs for one non-empty input reject the task; at most
    `limit` instances (duplicates counted once)."""
    kept, outputs = [], {}
    for inp, out in pairs:
        inp, out = inp.strip(), out.strip()
        if not out or inp == out or inp.endswith(":") or out.endswith(":"):
            continue
        if inp:
            outputs.setdefault(inp, set()).add(out)
        if (inp, out) not in kept:
            kept.append((inp, out))
    if any(len(v) > 1 for v in outputs.values()):
        return kept, "conflicting_instances"
    if not kept:
        return kept, "no_instances"
    return kept[:limit], None
