"""Per-row character counts and runs over a string column's UTF-8 bytes, with numpy.

Every character from U+0800 to U+FFFF (Han, kana, hangul, CJK punctuation, the wide spaces) is a
three-byte sequence led by a byte 0xE0-0xEF, and such a byte leads nothing else in valid UTF-8: these
classes are found from the lead bytes without decoding the rest. Arrow's regex kernels are several
times slower on large character classes, and splitting builds every token.
"""
from __future__ import annotations

import re
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BMP = 0x10000


def char_table(class_body: str) -> np.ndarray:
    """Boolean table over the BMP, True for the characters of a regex class body made of literal
    characters and `a-z` ranges (`script._HAN`), all of them from U+0800 to U+FFFF."""
    table = np.zeros(BMP, dtype=bool)
    for low, high, single in re.findall("(.)-(.)|(.)", class_body, re.S):
        low, high = (low, high) if low else (single, single)
        if not 0x800 <= ord(low) <= ord(high) < BMP:
            raise ValueError(f"{low!r}-{high!r} is not within U+0800..U+FFFF")
        table[ord(low):ord(high) + 1] = True
    return table


# `str.isspace()` characters: ASCII ones, U+0085 and U+00A0 (two bytes: C2 85, C2 A0), and these.
_WIDE_SPACES = char_table("".join(c for c in map(chr, range(0x800, BMP)) if c.isspace()))


class Utf8Rows:
    """A string column (`array`, nulls read as "") as `data`, its UTF-8 bytes back to back, and
    `offsets`, the n + 1 row boundaries into `data`."""

    def __init__(self, array: pa.Array | pa.ChunkedArray):
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if array.null_count:
            array = pc.fill_null(array, "")
        self.array, self.n = array, len(array)
        self.data, self.offsets = np.zeros(0, np.uint8), np.zeros(self.n + 1, np.int64)
        if self.n:
            _, offsets, data = array.buffers()
            width = np.int64 if pa.types.is_large_string(array.type) else np.int32
            offsets = np.frombuffer(offsets, width)[array.offset:array.offset + self.n + 1].astype(np.int64)
            if data is not None:
                self.data = np.frombuffer(data, np.uint8)[offsets[0]:offsets[-1]]
            self.offsets = offsets - offsets[0]

    def lengths(self) -> np.ndarray:
        """Characters per row."""
        return np.asarray(pc.utf8_length(self.array), dtype=np.int64)

    def per_row(self, positions: np.ndarray) -> np.ndarray:
        """How many of the sorted byte `positions` fall in each row."""
        return np.diff(np.searchsorted(positions, self.offsets))

    def rows_of(self, positions: np.ndarray) -> np.ndarray:
        """The row of each of the sorted byte `positions`."""
        return np.repeat(np.arange(self.n), self.per_row(positions))

    def positions_of(self, char: str) -> np.ndarray:
        """Byte position of every occurrence of `char`."""
        code, data = char.encode(), self.data
        found = np.flatnonzero(data[:len(data) - len(code) + 1] == code[0])
        for k, byte in enumerate(code[1:], 1):
            found = found[data[found + k] == byte]
        return found

    @cached_property
    def wide_chars(self) -> tuple[np.ndarray, np.ndarray]:
        """(byte position, code point) of every character from U+0800 to U+FFFF, in text order."""
        data = self.data
        positions = np.flatnonzero((data & 0xF0) == 0xE0)
        codes = (data[positions].astype(np.int32) & 0x0F) << 12
        codes |= (data[positions + 1].astype(np.int32) & 0x3F) << 6
        codes |= data[positions + 2] & 0x3F
        return positions, codes

    def count(self, table: np.ndarray) -> np.ndarray:
        """Characters per row whose code point is True in `table` (only U+0800..U+FFFF can be)."""
        positions, codes = self.wide_chars
        return self.per_row(positions[np.take(table, codes)])

    @cached_property
    def _space_starts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First bytes of the whitespace characters: (ASCII mask, two-byte positions, wide positions)."""
        data = self.data
        ascii_ = (data == 0x20) | ((data - np.uint8(0x09)) < 5) | ((data - np.uint8(0x1C)) < 4)
        two_byte = np.flatnonzero(data[:-1] == 0xC2)
        two_byte = two_byte[(data[two_byte + 1] == 0x85) | (data[two_byte + 1] == 0xA0)]
        positions, codes = self.wide_chars
        return ascii_, two_byte, positions[np.take(_WIDE_SPACES, codes)]

    def space_counts(self) -> np.ndarray:
        """Whitespace characters (`str.isspace`) per row."""
        ascii_, two_byte, wide = self._space_starts
        return self.per_row(np.flatnonzero(ascii_)) + self.per_row(two_byte) + self.per_row(wide)

    def spaces(self) -> np.ndarray:
        """A new mask, True on every byte of a whitespace character."""
        ascii_, two_byte, wide = self._space_starts
        mask = ascii_.copy()
        mark(mask, two_byte, 2)
        mark(mask, wide, 3)
        return mask

    def run_starts(self, separator: np.ndarray) -> np.ndarray:
        """First byte of every maximal run of non-`separator` bytes within a row."""
        first = ~separator
        first[1:] &= separator[:-1]
        starts = self.offsets[:-1][self.offsets[:-1] < self.offsets[1:]]
        first[starts] = ~separator[starts]
        return np.flatnonzero(first)

    def run_ends(self, separator: np.ndarray) -> np.ndarray:
        """Last byte of every maximal run of non-`separator` bytes within a row."""
        last = ~separator
        last[:-1] &= separator[1:]
        ends = self.offsets[1:][self.offsets[:-1] < self.offsets[1:]] - 1
        last[ends] = ~separator[ends]
        return np.flatnonzero(last)


def mark(mask: np.ndarray, positions: np.ndarray, width: int) -> None:
    """Set `mask` on the `width` bytes from each of `positions`."""
    for k in range(width):
        mask[positions + k] = True
