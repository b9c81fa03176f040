"""Compact sets and maps of string keys (cache keys, custom_ids) for jobs of millions of requests.

A key is held as its 16-byte BLAKE2b digest in one sorted numpy array, plus a small dict of the
latest additions merged in when it reaches 1/16 of the array: about 16-20 bytes a key, where a
Python set or dict of 64-character strings takes ~150-200. Two keys are taken for one only if their
128-bit digests collide; a caller that returns data for a key (the response cache) checks the full key.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Optional

import numpy as np

_MIN_BUFFER = 4096


def digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()


class KeySet:
    """A set of keys; no iteration (the keys themselves are not kept)."""

    def __init__(self, keys: Iterable[str] = ()):
        self._sorted = np.empty(0, dtype="S16")
        self._recent: dict[bytes, int] = {}
        self.update(keys)

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def __contains__(self, key: str) -> bool:
        return self._find(digest(key)) is not None

    def add(self, key: str, value: int = 0) -> bool:
        """False if the key was already there (its first value stays)."""
        d = digest(key)
        if self._find(d) is not None:
            return False
        self._recent[d] = value
        if len(self._recent) >= max(_MIN_BUFFER, len(self._sorted) // 16):
            self._merge()
        return True

    def update(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.add(key)

    def _find(self, d: bytes) -> Optional[int]:
        """The position in the sorted array (or the buffered value, negated minus one), None if absent."""
        if d in self._recent:
            return -1 - self._recent[d]
        i = int(self._sorted.searchsorted(d))
        # numpy drops an S16 item's trailing NUL bytes when it hands it back
        if i < len(self._sorted) and self._sorted[i] == d.rstrip(b"\0"):
            return i
        return None

    def _merge(self) -> None:
        if not self._recent:
            return
        new = np.array(list(self._recent), dtype="S16")
        order = np.argsort(new, kind="stable")
        positions = self._sorted.searchsorted(new[order])
        self._merge_values(positions, order)
        self._sorted = np.insert(self._sorted, positions, new[order])
        self._recent = {}

    def _merge_values(self, positions: np.ndarray, order: np.ndarray) -> None:
        """Subclasses that keep a value per key insert theirs at the same positions."""


class KeyIndex(KeySet):
    """key -> a small non-negative int (e.g. the number of the file that holds the key's entry)."""

    def __init__(self):
        self._values = np.empty(0, dtype=np.int32)
        super().__init__()

    def get(self, key: str) -> Optional[int]:
        found = self._find(digest(key))
        if found is None:
            return None
        return -1 - found if found < 0 else int(self._values[found])

    def _merge_values(self, positions: np.ndarray, order: np.ndarray) -> None:
        values = np.fromiter(self._recent.values(), dtype=np.int32, count=len(self._recent))
        self._values = np.insert(self._values, positions, values[order])
