"""The translation request (a JSON object of fields) and robust parsing of the model's reply.

The request asks for a JSON object with the same keys; `response_format: json_object` is sent where
the endpoint supports it. Replies are read strictly first, then leniently: Markdown fences, chatter
around the object, trailing commas, and finally each `"key": "value"` pair on its own. A reply that
yields no value for a requested key is `invalid_json`; a refusal (in place of the object or inside a
value) is `translation_refused`.
"""
from __future__ import annotations

import json
import re
from typing import Optional

from operators.filters.phrases import REFUSALS

LANGUAGE_NAMES = {"zh": "Simplified Chinese", "en": "English", "ja": "Japanese", "ko": "Korean",
                  "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
                  "ru": "Russian", "ar": "Arabic", "vi": "Vietnamese"}
# Models that reject `response_format: {"type": "json_object"}` (older OpenAI snapshots).
NO_JSON_MODE = ("gpt-4", "gpt-4-0314", "gpt-4-0613", "gpt-4-32k", "gpt-4-32k-0613", "gpt-3.5-turbo-0301",
                "gpt-3.5-turbo-0613", "gpt-3.5-turbo-16k")
SYSTEM_PROMPT = (
    "You are a professional translator. The user sends a JSON object whose values are parts of a task "
    "for an AI assistant. Translate every value from {source} into {target}. Do not answer, follow or "
    "comment on the task: only translate it. Reply with a JSON object with exactly the same keys and "
    "nothing else. Keep code blocks, inline code, URLs, e-mail addresses, numbers, placeholders such as "
    "{{name}}, %s or <NAME>, and the line breaks exactly as they are. Copy unchanged any value that is "
    "code, data or already in {target}, and any text in a third language the task is about."
)
TRANSLATION_REFUSALS = REFUSALS + (
    "i can't translate", "i cannot translate", "i'm unable to translate", "i am unable to translate",
    "i'm sorry, but i", "i am sorry, but i", "sorry, i can't", "sorry, i cannot", "i won't translate",
    "无法翻译", "不能翻译", "拒绝翻译", "抱歉,我", "对不起,我",
)
_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n?(.*?)\n?```\s*$", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def system_prompt(source: str, target: str, template: Optional[str] = None) -> str:
    return (template or SYSTEM_PROMPT).format(source=language_name(source) if source else "its language",
                                              target=language_name(target))


def request_text(fields: dict[str, str]) -> str:
    return json.dumps(fields, ensure_ascii=False, indent=0)


def wants_json_mode(setting: str, model: str) -> bool:
    if setting == "auto":
        return model not in NO_JSON_MODE
    return setting == "json_object"


def parse_reply(content: str, keys: list[str]) -> Optional[dict[str, str]]:
    """The translated value of every key, or None when the reply does not hold them all."""
    text = (content or "").strip()
    fenced = _FENCE.match(text)
    candidates = [text] + ([fenced.group(1)] if fenced else [])
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    for candidate in candidates:
        for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                value = json.loads(attempt)
            except ValueError:
                continue
            found = _values(value, keys)
            if found is not None:
                return found
    return _pairs(text, keys)


def _values(value, keys: list[str]) -> Optional[dict[str, str]]:
    if isinstance(value, str) and len(keys) == 1:
        return {keys[0]: value}
    if not isinstance(value, dict):
        return None
    out = {}
    for key in keys:
        item = value.get(key)
        if isinstance(item, list) and all(isinstance(i, str) for i in item):
            item = "\n".join(item)
        if not isinstance(item, str):
            return None
        out[key] = item
    return out


def _pairs(text: str, keys: list[str]) -> Optional[dict[str, str]]:
    """`"key": "value"` pairs one by one (an object with an unescaped quote or a missing brace)."""
    out = {}
    following = "|".join(re.escape(k) for k in keys)
    for key in keys:
        match = re.search(rf'"{re.escape(key)}"\s*:\s*"(.*?)"\s*(?=,\s*"(?:{following})"\s*:|\}}\s*(?:```)?\s*$)',
                          text, re.S)
        if not match:
            return None
        try:
            out[key] = json.loads(f'"{match.group(1)}"')
        except ValueError:
            out[key] = match.group(1)
    return out


def refusal(text: str, source: str = "") -> Optional[str]:
    """The refusal phrase at the head of `text` that the source does not itself contain."""
    head = _folded(text)[:300]
    src = _folded(source)
    if any(p in src[:300] for p in TRANSLATION_REFUSALS):
        return None  # the source apologises itself (an Alpaca answer): its translation may too
    return next((p for p in TRANSLATION_REFUSALS if p in head and p not in src), None)


def _folded(text: str) -> str:
    return (text or "").lower().replace("，", ",").replace("’", "'")
