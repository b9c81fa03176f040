"""Which source field feeds which record field when an input gives no mapping.

Standard layouts are recognised: Alpaca (`instruction`, `input`, `output`), Dolly (`context`,
`response`), prompt/completion and question/answer pairs, and ShareGPT-style conversations with one
user turn and one assistant reply. An input with a mapping (`fields:` or `--fields`) uses exactly
that mapping, and each unmapped field its own name.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

ALIASES = {
    "instruction": ("instruction", "prompt", "question", "query"),
    "input": ("input", "context"),
    "output": ("output", "response", "answer", "completion"),
    "lang": ("lang",),
}
CONVERSATION_KEYS = ("conversations", "messages")
_USER = {"human", "user"}
_ASSISTANT = {"gpt", "assistant", "bot", "model"}


def source_field(obj: Mapping[str, Any], name: str, mapping: Mapping[str, str]) -> str:
    """The source field (dotted path) to read record field `name` from."""
    if mapping:
        return mapping.get(name, name)
    return next((alias for alias in ALIASES[name] if alias in obj), name)


def from_conversation(obj: Mapping[str, Any]) -> Optional[dict[str, Any] | str]:
    """A ShareGPT-style row as Alpaca fields; a reason string when it has more than one exchange;
    None when the row is not a conversation."""
    if any(name in obj for name in ALIASES["instruction"]):
        return None
    key = next((k for k in CONVERSATION_KEYS if isinstance(obj.get(k), list)), None)
    if key is None:
        return None
    turns = [_turn(t) for t in obj[key]]
    turns = [t for t in turns if t is None or t[0] != "system"]
    if len(turns) != 2 or None in turns or turns[0][0] not in _USER or turns[1][0] not in _ASSISTANT:
        return f"unsupported_conversation:{key}"
    rest = {k: v for k, v in obj.items() if k != key}
    return {**rest, "instruction": turns[0][1], "input": "", "output": turns[1][1]}


def _turn(turn: Any) -> Optional[tuple[str, Any]]:
    if not isinstance(turn, Mapping):
        return None
    role = turn.get("from", turn.get("role"))
    text = turn.get("value", turn.get("content"))
    return (str(role).lower(), text) if role is not None else None
