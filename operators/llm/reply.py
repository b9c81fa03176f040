"""What a transport reports (light: no HTTP library imported, so `validate` loads fast)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional


class TransportError(Exception):
    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: Any = None  # parsed JSON of a 2xx answer
    error_type: Optional[str] = None
    error_code: Optional[str] = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300
