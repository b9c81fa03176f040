"""Spans a translation must carry over verbatim: code, URLs, numbers, placeholders, line structure.

`protected(text)` finds them in a source field; `missing(source_spans, translation)` lists those the
translation lost or altered. Comparison ignores whitespace runs and full-width forms (NFKC), so
`x = 1` and `x=1`, `１２` and `12` match; it does not ignore anything else.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from operators.filters.script import looks_like_code

FENCE_RE = re.compile(r"```[^\n`]*\n?(.*?)(?:```|\Z)", re.S)
INLINE_CODE_RE = re.compile(r"`([^`\n]+)`")
URL_RE = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"'`\u3000-\u303f\uff00-\uffef]+|[\w.+-]+@[\w-]+\.[\w.-]+")
# {name}, {{name}}, {0}, %s, %(name)s, %d, $VAR, ${VAR}, <PLACEHOLDER>, [PLACEHOLDER]
PLACEHOLDER_RE = re.compile(r"\{\{[^{}\n]{1,40}\}\}|\{[A-Za-z0-9_]{0,30}\}|%\([A-Za-z_]\w*\)[sdif]|%[sdif]"
                            r"|\$\{?[A-Z][A-Z0-9_]{1,30}\}?|<[A-Z][A-Z0-9_]{1,30}>")
# 12, 3.5, 1,000,000, -4, 1/2 (as two numbers), 10^6; ordinal suffixes and units are not part of it.
NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
TAG_RE = re.compile(r"</?[A-Za-z][\w-]*(?:\s+[\w:-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))*\s*/?>")
_CODE_MARK_RE = re.compile(r"[(){}\[\];]|==|!=|->|=>|^\s*(?:def|class|import|return|SELECT|INSERT|UPDATE|CREATE)\b")
_END_PUNCT = ".,;:\u3002\uff0c\uff1b\uff1a"
_TRAILING_PUNCT = ".,;:!?)]}'\""
_SPACES = re.compile(r"\s+")


@dataclass
class Spans:
    code: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    lines: int = 0  # non-empty lines

    def __bool__(self) -> bool:
        return bool(self.code or self.urls or self.numbers or self.placeholders)


def fold(text: str) -> str:
    """The form spans are compared in: NFKC, no whitespace."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


def is_code_line(line: str) -> bool:
    """A line of source code: the filters' code test plus brackets, `==`, `;` or a keyword (so that
    prose such as `Distance = 50 meters, Time = 10 seconds` is not code)."""
    return looks_like_code(line) and bool(_CODE_MARK_RE.search(line))


def code_spans(text: str) -> list[str]:
    """Fenced blocks, inline code and lines of source code outside them. In markup (HTML, XML) only
    the tags are protected: the text between them is prose and may be translated."""
    spans = [m.group(1) for m in FENCE_RE.finditer(text) if m.group(1).strip()]
    rest = FENCE_RE.sub("\n", text)
    spans += [m.group(1) for m in INLINE_CODE_RE.finditer(rest) if m.group(1).strip()]
    rest = INLINE_CODE_RE.sub(" ", rest)
    for line in rest.split("\n"):
        if not line.strip():
            continue
        tags = TAG_RE.findall(line)
        if tags and len("".join(tags)) >= 0.3 * len(line.strip()):
            spans += tags
        elif is_code_line(line):
            spans.append(line)
    return spans


def url_spans(text: str) -> list[str]:
    return [m.group(0).rstrip(_TRAILING_PUNCT) for m in URL_RE.finditer(text)]


def number_spans(text: str) -> list[str]:
    """Numbers with thousands separators removed (`1,000` -> `1000`)."""
    return [canonical_number(m.group(0)) for m in NUMBER_RE.finditer(unicodedata.normalize("NFKC", text))]


def canonical_number(token: str) -> str:
    token = token.rstrip(".,")
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", token):
        token = token.replace(",", "")
    return token


def strip_spans(text: str) -> str:
    """The prose of a field: fenced and inline code and URLs removed."""
    text = FENCE_RE.sub(" ", text)
    text = INLINE_CODE_RE.sub(" ", text)
    return URL_RE.sub(" ", text)


def protected(text: str) -> Spans:
    if not text:
        return Spans()
    code = code_spans(text)
    prose = strip_spans(text)
    for line in code:  # numbers inside code lines are checked with the code
        prose = prose.replace(line, " ")
    return Spans(code=code, urls=url_spans(text), numbers=number_spans(prose),
                 placeholders=PLACEHOLDER_RE.findall(prose),
                 lines=sum(1 for line in text.split("\n") if line.strip()))


def missing(spans: Spans, translation: str) -> dict[str, list[str]]:
    """Kind -> spans of the source not found in the translation (empty dict: nothing lost)."""
    folded = fold(translation)
    lost: dict[str, list[str]] = {}
    code = [s for s in spans.code if fold(s).rstrip(_END_PUNCT) not in folded]
    if code:
        lost["code"] = code
    urls = [u for u in spans.urls if fold(u) not in folded]
    if urls:
        lost["url"] = urls
    if spans.numbers:
        numbers = _missing_numbers(spans.numbers, number_spans(translation))
        if numbers:
            lost["number"] = numbers
    placeholders = [p for p in spans.placeholders if fold(p) not in folded]
    if placeholders:
        lost["placeholder"] = placeholders
    return lost


def _missing_numbers(source: list[str], target: list[str]) -> list[str]:
    """Source numbers (as a multiset) the target does not contain; `10` is found in `1000` only
    when the source wrote a magnitude word (10 million -> 1000万) -- approximated as a prefix match."""
    pool = list(target)
    lost = []
    for number in source:
        if number in pool:
            pool.remove(number)
            continue
        prefixed = next((t for t in pool if t.startswith(number) and len(t) > len(number)
                         and set(t[len(number):]) <= {"0"}), None)
        if prefixed is not None:
            pool.remove(prefixed)
            continue
        lost.append(number)
    return lost
