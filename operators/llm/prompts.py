"""GPT-4-LLM's prompting: the two Stanford Alpaca templates, sent as chat messages."""
from __future__ import annotations

from typing import Optional

ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)

# The same two templates in Chinese, for answering translated instructions in Chinese.
ALPACA_ZH_WITH_INPUT = (
    "以下是描述一项任务的指令，以及提供更多上下文的输入。请用简体中文写出恰当完成该请求的回答。\n\n"
    "### 指令:\n{instruction}\n\n### 输入:\n{input}\n\n### 回答:"
)
ALPACA_ZH_NO_INPUT = (
    "以下是描述一项任务的指令。请用简体中文写出恰当完成该请求的回答。\n\n"
    "### 指令:\n{instruction}\n\n### 回答:"
)
TEMPLATES = {"alpaca": (ALPACA_WITH_INPUT, ALPACA_NO_INPUT), "alpaca_zh": (ALPACA_ZH_WITH_INPUT, ALPACA_ZH_NO_INPUT)}


def render_prompt(instruction: str, input: str = "", template: str = "alpaca") -> str:
    """The user prompt: an Alpaca template (`alpaca`, `alpaca_zh`), or (`plain`) the texts as they are."""
    if template == "plain":
        return f"{instruction}\n\n{input}" if input else instruction
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}")
    with_input, no_input = TEMPLATES[template]
    if input:
        return with_input.format(instruction=instruction, input=input)
    return no_input.format(instruction=instruction)


def build_messages(instruction: str, input: str = "", template: str = "alpaca",
                   system_prompt: Optional[str] = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": render_prompt(instruction, input, template)})
    return messages


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """A deliberately low token estimate (about 4.5 ASCII characters or 1 other character per token).

    Low on purpose: it is used to refuse prompts that are surely over the context limit without paying,
    and as the TPM reservation, which is corrected with the real `usage` afterwards.
    """
    total = 0
    for message in messages:
        text = message.get("content") or ""
        ascii_chars = sum(1 for ch in text if ord(ch) < 128)
        total += int(ascii_chars / 4.5) + (len(text) - ascii_chars) + 4
    return total + 2
