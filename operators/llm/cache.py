"""Content-addressed response cache on local disk or object storage.

Key: SHA-256 of (model, messages, sampling parameters, seed) — never the base URL or the key, so the
same request to another host or with another key is still a hit. Entries are appended to memory and
written out as small immutable JSONL files (`<writer>-<seq>.jsonl`, written whole: a temp file and a
rename locally, one PUT on S3), so a response is durable within `flush_s` seconds and a killed writer
leaves no torn file. At start every file's keys are indexed (key -> file number, ~20 bytes a key in
numpy arrays: keyset.py); values are read back on a hit, from the raw lines of the few files read
last (at most `open_mb`), and the entry's full key is checked, so memory stays small however many
keys the cache holds.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
import threading
import uuid
from collections import OrderedDict
from typing import Any, Optional

import pyarrow.fs as pafs

from operators.llm.keyset import KeyIndex
from operators.storage import filesystem, is_remote

log = logging.getLogger(__name__)
_SUFFIX = ".jsonl"


def cache_key(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    body = {"model": model, "messages": messages, "params": {k: params[k] for k in sorted(params)}}
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """Thread-safe; `uri=None` is a cache that stores nothing."""

    def __init__(self, uri: Optional[str], open_mb: float = 8.0):
        self.uri = uri
        self.writer = uuid.uuid4().hex[:12]
        self._seq = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._index = KeyIndex()  # key -> number of the file (in _paths) that holds its entry
        self._paths: list[str] = []  # file paths inside the filesystem
        self._seen_files: set[str] = set()
        self._pending: dict[str, dict[str, Any]] = {}
        self._files: OrderedDict[str, tuple[dict[str, bytes], int]] = OrderedDict()  # path -> ({key: line}, bytes)
        self._open_bytes = int(open_mb * 2**20)
        self._fs, self._root = filesystem(uri) if uri else (None, "")
        if self._fs is not None and not is_remote(uri):
            self._fs.create_dir(self._root, recursive=True)

    @property
    def enabled(self) -> bool:
        return self._fs is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._index) + len(self._pending)

    def refresh(self) -> int:
        """Index files written since the last look (by this or any other writer); returns new keys."""
        if not self.enabled:
            return 0
        selector = pafs.FileSelector(self._root, recursive=True, allow_not_found=True)
        new = 0
        for info in self._fs.get_file_info(selector):
            path = info.path
            if info.type != pafs.FileType.File or not path.endswith(_SUFFIX) or path in self._seen_files:
                continue
            if "_batches/" in path[len(self._root):]:
                continue  # a named endpoint's batch ledger and request files (<root>/<name>_batches, not answers)
            lines = self._read_file(path)
            with self._lock:
                number = self._add_path(path)
                new += sum(self._index.add(key, number) for key in lines)
        return new

    def _add_path(self, path: str) -> int:
        self._seen_files.add(path)
        self._paths.append(path)
        return len(self._paths) - 1

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._pending or key in self._index

    def get(self, key: str) -> Optional[dict[str, Any]]:
        with self._lock:
            entry = self._pending.get(key)
            number = self._index.get(key)
            if entry is not None or number is None:
                return entry
            path = self._paths[number]
            held = self._files.get(path)
            if held is not None:
                self._files.move_to_end(path)
        lines = held[0] if held is not None else self._read_file(path, keep=True)
        line = lines.get(key)  # None: another key with the same digest (keyset.py)
        return None if line is None else json.loads(line)

    def put(self, key: str, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._pending[key] = {**entry, "key": key}

    def flush(self) -> int:
        """Write pending entries as one new file; returns how many were written."""
        if not self.enabled:
            return 0
        with self._write_lock:
            with self._lock:
                batch = dict(self._pending)
                if not batch:
                    return 0
                self._seq += 1
                name = f"{self.writer}-{self._seq:06d}{_SUFFIX}"
            path = posixpath.join(self._root, name) if is_remote(self.uri) else os.path.join(self._root, name)
            body = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in batch.values())
            self._write_whole(path, body.encode("utf-8"))
            with self._lock:
                number = self._add_path(path)
                for key in batch:
                    self._index.add(key, number)
                    self._pending.pop(key, None)
            return len(batch)

    def _write_whole(self, path: str, data: bytes) -> None:
        if is_remote(self.uri):
            with self._fs.open_output_stream(path) as out:
                out.write(data)
            return
        tmp = path + ".tmp"
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)

    def _read_file(self, path: str, keep: bool = False) -> dict[str, bytes]:
        """{key: raw line} of every valid line; with `keep`, held among the files read last."""
        lines: dict[str, bytes] = {}
        try:
            with self._fs.open_input_stream(path) as handle:
                data = handle.read()
        except (OSError, FileNotFoundError) as err:
            log.warning("response cache: cannot read %s (%s)", path, type(err).__name__)
            return lines
        for line in data.splitlines():
            try:
                key = json.loads(line)["key"]
            except (ValueError, KeyError, TypeError):
                continue  # a foreign or damaged line: ignored, the request is simply made again
            if isinstance(key, str):
                lines[key] = line
        if keep:
            with self._lock:
                self._files[path] = (lines, len(data))
                while len(self._files) > 1 and sum(size for _, size in self._files.values()) > self._open_bytes:
                    self._files.popitem(last=False)
        return lines
