"""Answers for instruction-generation prompts, for the fake OpenAI server (`answer_fn`).

An Alpaca-style prompt (numbered tasks with Instruction/Input/Output, "continue the numbering from
N to M") gets the items N..M, built deterministically from the prompt: mostly fresh instructions of
common English words, plus near-copies of the prompt's own examples (pool instructions), variants of
a few popular tasks (so generated instructions collide across prompts), malformed items, too short
ones and blacklisted ones. Other prompts get the server's default answer. Truncated lists come from
the server's `length` fault (half the answer, finish_reason "length").
"""
from __future__ import annotations

import hashlib
import random
import re
from typing import Any

from operators.filters.wordlists import ENGLISH
from tests.support.openai_server import deterministic_answer, last_user

WORDS = sorted(w for w in ENGLISH if w.isalpha() and w.isascii() and len(w) > 3)
VERBS = ("Explain", "Describe", "List", "Suggest", "Compare", "Summarize", "Classify", "Rewrite",
         "Estimate", "Outline", "Evaluate", "Propose")
POPULAR = ("Give three tips for staying healthy during the winter months",
           "Explain why the sky looks blue on a clear day",
           "Suggest a name for a small bakery that sells bread and cakes",
           "Summarize the main causes of the first world war in a paragraph",
           "Write a short poem about the ocean at night")
_EXAMPLE = re.compile(r"^\d+\. Instruction: (.*)$", re.M)
_RANGE = re.compile(r"numbering from (\d+) to (\d+)")
_NUMBERED = re.compile(r"^(\d+)\. (.*)$", re.M)


def near_copy(text: str, rng: random.Random) -> str:
    words = text.split()
    words[rng.randrange(1, len(words))] = rng.choice(WORDS)
    return " ".join(words)


def fresh(rng: random.Random) -> str:
    return f"{rng.choice(VERBS)} " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) + "."


def item(n: int, rng: random.Random, examples: list[str]) -> str:
    draw = rng.random()
    if draw < 0.08:
        return f"{n}. Instruction: {fresh(rng)}\n{n}. Output:\nmissing its input field"
    if draw < 0.12:
        return f"{n}. Instruction: Sort these.\n{n}. Input:\n<noinput>\n{n}. Output:\nDone."
    if draw < 0.16:
        return f"{n}. Instruction: Draw a picture of {rng.choice(WORDS)} and {rng.choice(WORDS)}.\n" \
               f"{n}. Input:\n<noinput>\n{n}. Output:\n(image)"
    if draw < 0.28 and examples:
        instruction = near_copy(rng.choice(examples), rng)
    elif draw < 0.36:
        instruction = near_copy(rng.choice(POPULAR), rng)
    else:
        instruction = fresh(rng)
    given = " ".join(rng.choice(WORDS) for _ in range(5)) if rng.random() < 0.4 else "<noinput>"
    return f"{n}. Instruction: {instruction}\n{n}. Input:\n{given}\n{n}. Output:\n" + \
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20)))


def task_list(prompt: str, rng: random.Random) -> str:
    """Self-Instruct's list: items after the prompt's numbered tasks, with near-copies and a bad line."""
    shown = [m.group(2) for m in _NUMBERED.finditer(prompt)]
    lines, n = [], len(shown) + 1
    for _ in range(rng.randint(6, 12)):
        draw = rng.random()
        if draw < 0.06:
            lines.append("and a few more like these")  # not a numbered line: joins the item before
            continue
        if draw < 0.2 and shown:
            text = near_copy(rng.choice(shown), rng)
        elif draw < 0.28:
            text = near_copy(rng.choice(POPULAR), rng)
        elif draw < 0.32:
            text = "Plot a graph of the data."
        else:
            text = fresh(rng)
        lines.append(f"{n}. {text}")
        n += 1
    return "\n".join(lines)


def instances(prompt: str, rng: random.Random) -> str:
    """Examples for a task; some empty, some with input == output, some conflicting."""
    task = prompt.rsplit("Task: ", 1)[-1].strip()
    draw = rng.random()
    if "Class label:" in prompt:
        labels = rng.sample(("yes", "no", "maybe", "positive", "negative"), 2)
        return "\n".join(f"Class label: {label}\nInput: {fresh(rng)}" for label in labels)
    if draw < 0.08:
        return f"Example 1:\nInput: same text\nOutput: one\nExample 2:\nInput: same text\nOutput: two"
    if draw < 0.14:
        return "Example 1:\nInput: echo\nOutput: echo"
    count = rng.randint(1, 7)
    return "\n".join(f"Example {k + 1}:\nInput: {fresh(rng) if rng.random() < 0.6 else '<noinput>'}\n"
                     f"Output: answer {k} to {task[:30]}" for k in range(count))


def open_example(prompt: str, rng: random.Random) -> str:
    """Unnatural Instructions' fourth example: sometimes a field missing, a demonstration copied."""
    demos = re.findall(r"^Instruction: (.*)$", prompt, re.M)
    draw = rng.random()
    if draw < 0.08:
        return f"Instruction: {fresh(rng)}\nInput: {fresh(rng)}"
    if draw < 0.16 and demos:
        instruction = rng.choice(demos)
    elif draw < 0.3 and demos:
        instruction = near_copy(rng.choice(demos), rng)
    else:
        instruction = fresh(rng)
    return f"Instruction: {instruction}\nInput: {fresh(rng)}\nConstraints: Answer in {rng.randint(2, 9)} words."


def paraphrases(prompt: str, rng: random.Random) -> str:
    task = prompt.rsplit("Task: ", 1)[-1].strip()
    words = task.split()
    rewrites = [" ".join(words[1:] + words[:1]).capitalize(), f"Please {task[0].lower()}{task[1:]}"]
    if rng.random() < 0.1:
        rewrites[1] = rewrites[0]  # a duplicate
    return "\n".join(f"{n + 1}. {text}" for n, text in enumerate(rewrites))


def bootstrap_answer(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    prompt = last_user(messages)
    rng = random.Random(hashlib.sha256(prompt.encode()).hexdigest())
    if "Rewrite the task below" in prompt:
        return paraphrases(prompt, rng)
    if re.search(r"^Example \d+:\s*$", prompt.rstrip().splitlines()[-1]) and "Constraints:" in prompt:
        return open_example(prompt, rng)
    if "Is it classification?" in prompt:
        return "Yes" if rng.random() < 0.3 else "No"
    if "Task: " in prompt and ("Class label:" in prompt or "Example N:" in prompt):
        return instances(prompt, rng)
    if "Add more tasks to the list" in prompt:
        return task_list(prompt, rng)
    numbering = _RANGE.search(prompt)
    if not numbering or "Instruction:" not in prompt:
        return deterministic_answer(messages, body)
    examples = _EXAMPLE.findall(prompt)
    first, last = int(numbering.group(1)), int(numbering.group(2))
    return "\n###\n".join(item(n, rng, examples) for n in range(first, last + 1))
