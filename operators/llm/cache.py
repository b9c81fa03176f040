"""Content-addressed response cache on local disk or object storage.

Key: SHA-256 of (model, messages, sampling parameters, seed) — never the base URL or the key, so the
same request to another host or with another key is still a hit. Entries are appended to memory and
written out as small immutable JSONL files (`<writer>-<seq>.jsonl`, written whole: a temp file and a
rename locally, one PUT on S3), so a response is durable within `flush_s` seconds and a killed writer
leaves no torn file. At start every file's keys are indexed (key -> file); values are read back on a
hit, with a few parsed files kept in memory, so memory does not grow with the cache.
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

from operators.storage import filesystem, is_remote

log = logging.getLogger(__name__)
_SUFFIX = ".jsonl"


def cache_key(model: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    body = {"model": model, "messages": messages, "params": {k: params[k] for k in sorted(params)}}
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """Thread-safe; `uri=None` is a cache that stores nothing."""

    def __init__(self, uri: Optional[str], open_files: int = 8):
        self.uri = uri
        self.writer = uuid.uuid4().hex[:12]
        self._seq = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._index: dict[str, str] = {}  # key -> file path inside the filesystem
        self._seen_files: set[str] = set()
        self._pending: dict[str, dict[str, Any]] = {}
        self._files: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()
        self._open_files = open_files
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
            entries = self._read_file(path)
            with self._lock:
                self._seen_files.add(path)
                for key in entries:
                    if key not in self._index:
                        self._index[key] = path
                        new += 1
        return new

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._pending or key in self._index

    def get(self, key: str) -> Optional[dict[str, Any]]:
        with self._lock:
            entry = self._pending.get(key)
            path = self._index.get(key)
            if entry is not None or path is None:
                return entry
            parsed = self._files.get(path)
            if parsed is not None:
                self._files.move_to_end(path)
                return parsed.get(key)
        return self._read_file(path, keep=True).get(key)

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
                self._seen_files.add(path)
                for key in batch:
                    self._index[key] = path
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

    def _read_file(self, path: str, keep: bool = False) -> dict[str, dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        try:
            with self._fs.open_input_stream(path) as handle:
                data = handle.read().decode("utf-8", "replace")
        except (OSError, FileNotFoundError) as err:
            log.warning("response cache: cannot read %s (%s)", path, type(err).__name__)
            return entries
        for line in data.splitlines():
            try:
                entry = json.loads(line)
                entries[entry["key"]] = entry
            except (ValueError, KeyError, TypeError):
                continue  # a foreign or damaged line: ignored, the request is simply made again
        if keep:
            with self._lock:
                self._files[path] = entries
                while len(self._files) > self._open_files:
                    self._files.popitem(last=False)
        return entries
