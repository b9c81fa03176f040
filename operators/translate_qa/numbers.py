"""Numbers compared by value, so that legitimate rewrites pass and altered numbers do not.

A source number counts as kept when the translation holds the same value written any usual way:
`1,500` / `1500`, `2.5 million` / `250万`, `100 million` / `1亿`, `3 sentences` / `三句话`,
`5th` / `第五`, `05/18/1995` / `1995年5月18日`. Digits glued to a preceding letter (`CO2`, `H2O`,
`C4`) are identifiers, not quantities, and are not checked.
"""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

_EN_SCALE = {"hundred": 100, "thousand": 1000, "million": 10 ** 6, "billion": 10 ** 9, "trillion": 10 ** 12}
_ZH_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
             "八": 8, "九": 9}
_ZH_UNIT = {"十": 10, "百": 100, "千": 1000}
_ZH_BIG = {"万": 10 ** 4, "亿": 10 ** 8, "兆": 10 ** 12}
NUMBER = r"\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SOURCE_RE = re.compile(rf"(?<![A-Za-z\d.,])({NUMBER})(?:\s*(hundred|thousand|million|billion|trillion)\b)?", re.I)
_TARGET_RE = re.compile(rf"({NUMBER})\s*([十百千万亿兆]*)")
_ZH_NUMERAL_RE = re.compile("[零〇一二两三四五六七八九十百千万亿兆]+")


def _value(token: str) -> Decimal | None:
    try:
        return Decimal(token.replace(",", ""))
    except InvalidOperation:
        return None


def source_numbers(text: str) -> list[tuple[str, Decimal]]:
    """(as written, value) for every quantity in English (or other Latin-script) text."""
    out = []
    for match in _SOURCE_RE.finditer(unicodedata.normalize("NFKC", text)):
        value = _value(match.group(1))
        if value is None:
            continue
        scale = match.group(2)
        out.append((match.group(0), value * _EN_SCALE[scale.lower()] if scale else value))
    return out


def target_values(text: str) -> set[Decimal]:
    """Every value the text can be read as holding (Arabic digits with or without a Chinese
    magnitude, and Chinese numerals)."""
    text = unicodedata.normalize("NFKC", text)
    values: set[Decimal] = set()
    for match in _TARGET_RE.finditer(text):
        value = _value(match.group(1))
        if value is None:
            continue
        values.add(value)
        scale = 1
        for ch in match.group(2):
            scale *= _ZH_UNIT.get(ch) or _ZH_BIG[ch]
        values.add(value * scale)
    for match in _ZH_NUMERAL_RE.finditer(text):
        parsed = parse_chinese_numeral(match.group(0))
        if parsed is not None:
            values.add(Decimal(parsed))
        values.update(Decimal(_ZH_DIGIT[ch]) for ch in match.group(0) if ch in _ZH_DIGIT)
    return values


def parse_chinese_numeral(text: str) -> int | None:
    """`三` 3, `十五` 15, `二百零五` 205, `一万二千` 12000, `两亿` 200000000; digit strings `一九九五`."""
    if all(ch in _ZH_DIGIT for ch in text) and len(text) > 1:
        return int("".join(str(_ZH_DIGIT[ch]) for ch in text))
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in _ZH_DIGIT:
            digit = _ZH_DIGIT[ch]
        elif ch in _ZH_UNIT:
            section += (1 if digit is None else digit) * _ZH_UNIT[ch]
            digit = None
        elif ch in _ZH_BIG:
            section += digit or 0
            total = (total + section) * _ZH_BIG[ch]
            section, digit = 0, None
        else:
            return None
    return total + section + (digit or 0)


def lost_numbers(source: str, translation: str, target_lang: str = "zh") -> list[str]:
    """Numbers of `source` whose value the translation does not hold."""
    numbers = source_numbers(source)
    if not numbers:
        return []
    if target_lang == "zh":
        values = target_values(translation)
    else:
        values = {v for _, v in source_numbers(translation)}
        values |= {_value(m.group(1)) for m in _TARGET_RE.finditer(unicodedata.normalize("NFKC", translation))}
    lost = []
    for written, value in numbers:
        plain = _value(re.match(NUMBER, written).group(0))
        if value not in values and plain not in values:
            lost.append(written)
    return lost
