"""Secrets out of anything recorded or printed: URL userinfo, key-like query parameters and config values.

The manifest and the card record the config as written (with `--set` values); this is applied first.
"""
from __future__ import annotations

import re
from typing import Any

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s]*)@")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access[_-]?token|secret|password|sig|signature)=)"
                           r"[^&#\s]*")
_SECRET_KEY = re.compile(r"(?i)(^|_)(api_?key|password|passwd|secret|token|credentials?)$")
_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def redact_text(text: str) -> str:
    """`scheme://user:pass@host` -> `scheme://***@host`; `?api_key=v` -> `?api_key=***`."""
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    return _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)


def redact_config(value: Any, key: str = "") -> Any:
    """A copy of a raw config with secrets masked: URL credentials anywhere, and the values of keys named
    like secrets (`api_key`, `password`, `token`...) unless they are `${VAR}` placeholders."""
    if isinstance(value, dict):
        return {k: redact_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_config(v, key) for v in value]
    if isinstance(value, str):
        if _SECRET_KEY.search(key) and not _PLACEHOLDER.match(value):
            return MASK
        return redact_text(value)
    return value
