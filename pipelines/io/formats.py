"""Raw records out of files: JSON lines, JSON arrays, Parquet and HF `datasets` Arrow files.

Each parser yields `(position, obj_or_error)` one record at a time, so a file is never held whole in
memory. A bad line is yielded as a `RowError`; a file that cannot be parsed at all raises `FileError`.
"""
from __future__ import annotations

import gzip
import json
import lzma
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from operators import storage

_CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"


class FileError(RuntimeError):
    """The file as a whole cannot be read (names the file and where)."""


@dataclass
class RowError:
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


DECOMPRESSION_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError)


def describe_decompression_error(uri: str, err: BaseException) -> str:
    kind = "truncated" if isinstance(err, EOFError) else "corrupt"
    return f"{uri}: {kind} compressed file, cannot be read to the end ({type(err).__name__}: {err})"


def sniff_format(uri: str) -> str:
    lower = uri.lower()
    if lower.endswith(".parquet"):
        return "parquet"
    if lower.endswith(".arrow"):
        return "arrow"
    try:
        with storage.open_read(uri) as handle:
            head = handle.read(4096).lstrip(BOM + b" \t\r\n")
    except DECOMPRESSION_ERRORS as err:
        raise FileError(describe_decompression_error(uri, err)) from None
    return "json" if head.startswith(b"[") else "jsonl"


def iter_jsonl(uri: str) -> Iterator[tuple[int, Any]]:
    for number, raw in enumerate(storage.iter_lines(uri), start=1):
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield number, RowError("invalid_utf8", {"raw": raw.decode("utf-8", "backslashreplace").rstrip("\n"),
                                                    "error": str(err)})
            continue
        try:
            yield number, json.loads(text)
        except ValueError as err:
            yield number, RowError("malformed_json", {"raw": text.rstrip("\n"), "error": str(err)})
        except RecursionError:
            yield number, RowError("json_too_deep", {"raw": text.rstrip("\n"),
                                                     "error": "nested deeper than the JSON parser's limit"})


def iter_json_array(uri: str) -> Iterator[tuple[int, Any]]:
    """Stream the elements of a top-level JSON array with an incremental decoder."""
    with storage.open_read(uri) as handle:
        reader = _TextChunks(handle, uri)
        buf, pos = reader.ensure(reader.next_chunk().lstrip("\ufeff"), 0)
        if buf[pos:pos + 1] != "[":
            raise FileError(f"{uri}: expected a JSON array")
        buf, pos = reader.ensure(buf, pos + 1)
        index = 0
        while buf[pos:pos + 1] != "]":
            obj, buf, pos = reader.decode(buf, pos, index)
            yield index, obj
            index += 1
            buf, pos = reader.ensure(buf, pos)
            if buf[pos:pos + 1] == ",":
                buf, pos = reader.ensure(buf, pos + 1)
            elif buf[pos:pos + 1] != "]":
                raise FileError(f"{uri}: element {index}: expected ',' or ']'")


def _skip_ws(buf: str, pos: int) -> int:
    while pos < len(buf) and buf[pos] in " \t\r\n":
        pos += 1
    return pos


class _TextChunks:
    """UTF-8 text of a binary stream, chunk by chunk, never splitting a character."""

    def __init__(self, handle, uri: str):
        self.handle, self.uri, self.pending = handle, uri, b""
        self.decoder = json.JSONDecoder()

    def next_chunk(self) -> str:
        data = self.pending + self.handle.read(_CHUNK)
        for cut in range(len(data), max(len(data) - 4, 0) - 1, -1):
            try:
                text = data[:cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
            self.pending = data[cut:]
            return text
        raise FileError(f"{self.uri}: invalid UTF-8 near byte {len(data)}")

    def more(self, buf: str, pos: int) -> tuple[str, int, bool]:
        chunk = self.next_chunk()
        return buf[pos:] + chunk, 0, bool(chunk)

    def ensure(self, buf: str, pos: int) -> tuple[str, int]:
        """Skip whitespace, reading more when the buffer runs out."""
        pos = _skip_ws(buf, pos)
        while pos >= len(buf):
            buf, pos, got = self.more(buf, pos)
            if not got:
                raise FileError(f"{self.uri}: unexpected end of JSON array")
            pos = _skip_ws(buf, pos)
        return buf, pos

    def decode(self, buf: str, pos: int, index: int) -> tuple[Any, str, int]:
        while True:
            try:
                obj, end = self.decoder.raw_decode(buf, pos)
                if end < len(buf):
                    return obj, buf, end
            except ValueError as err:
                error = err.msg
            except RecursionError:
                raise FileError(f"{self.uri}: element {index}: nested deeper than the JSON parser's limit") from None
            else:
                error = "truncated"
            buf, pos, got = self.more(buf, pos)
            if not got:
                if error == "truncated":
                    return obj, buf, len(buf)
                raise FileError(f"{self.uri}: element {index}: malformed JSON ({error})")


def iter_parquet(uri: str, batch_rows: int = 4096) -> Iterator[tuple[int, Any]]:
    fs, path = storage.filesystem(uri)
    try:
        handle = pq.ParquetFile(fs.open_input_file(path))
        index = 0
        for batch in handle.iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                yield index, row
                index += 1
    except (pa.ArrowInvalid, OSError) as err:
        raise FileError(f"{uri}: not a readable Parquet file ({err})") from None


def iter_arrow(uri: str) -> Iterator[tuple[int, Any]]:
    """Arrow IPC stream files as written by HF `datasets.save_to_disk`."""
    fs, path = storage.filesystem(uri)
    try:
        with fs.open_input_stream(path, compression=None) as stream:
            reader = ipc.open_stream(stream)
            index = 0
            for batch in reader:
                for row in batch.to_pylist():
                    yield index, row
                    index += 1
    except pa.ArrowInvalid as err:
        raise FileError(f"{uri}: not a readable Arrow stream ({err})") from None


PARSERS = {"jsonl": iter_jsonl, "json": iter_json_array, "parquet": iter_parquet, "arrow": iter_arrow}
