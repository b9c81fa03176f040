"""Streaming readers: files of any supported format on any storage -> record batches in Ray Data.

One read task per file; each yields pyarrow tables of at most `batch_rows` rows, so neither the
driver nor a worker ever holds a whole dataset. Bad rows come out as rejects of stage `read`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import pyarrow as pa
import pyarrow.compute as pc
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from operators.schema import REJECT_SCHEMA, records_to_table
from operators import storage
from pipelines.io import formats
from pipelines.io.errors import InputError
from pipelines.io.records import READ_STAGE, safe_rows

SKIPPED = "skipped_seen\0"  # accounting key prefix of rows a refresh skips (their id was released before)
DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet", ".arrow", ".jsonl.bz2",
                 ".jsonl.zst", ".ndjson", ".ndjson.gz")


@dataclass(frozen=True)
class InputFile:
    uri: str
    size: int
    format: str
    mapping: tuple[tuple[str, str], ...]
    lang: str
    keep_fields: tuple[str, ...]
    copy: int = 0  # n-th time this file is listed among the inputs; keeps sources unique

    @property
    def label(self) -> str:
        """How rows name this file in `source` (`uri`, or `uri[n]` for the n-th extra listing)."""
        return self.uri if self.copy == 0 else f"{self.uri}[{self.copy}]"


def expand_input(uri: str, fmt: str = "auto", split: Optional[str] = None) -> list[tuple[str, int, str]]:
    """A file, a directory of data files, or a directory saved by HF `datasets` -> [(uri, size, format)]."""
    try:
        return _expand(uri, fmt, split)
    except formats.FileError as err:
        raise InputError(str(err)) from None


def _expand(uri: str, fmt: str, split: Optional[str]) -> list[tuple[str, int, str]]:
    entry = storage.info(uri)
    if entry.type == storage.pafs.FileType.NotFound:
        raise InputError(f"input not found: {uri}")
    if entry.type == storage.pafs.FileType.File:
        return [(uri, entry.size, fmt if fmt != "auto" else formats.sniff_format(uri))]
    hf_files = _hf_arrow_files(uri, split)
    if hf_files is not None:
        return [(u, s, "arrow") for u, s in hf_files]
    found = [(u, s) for u, s in storage.list_files(uri) if u.lower().endswith(DATA_SUFFIXES)]
    if not found:
        raise InputError(f"input directory has no data files: {uri}")
    return [(u, s, fmt if fmt != "auto" else formats.sniff_format(u)) for u, s in found]


def _hf_arrow_files(uri: str, split: Optional[str]) -> Optional[list[tuple[str, int]]]:
    files = storage.list_files(uri)
    names = {u.rsplit("/", 1)[-1] for u, _ in files}
    if "dataset_dict.json" in names:
        splits = sorted({u[len(uri):].strip("/").split("/")[0] for u, _ in files if u.endswith(".arrow")})
        chosen = [split] if split else splits
        unknown = [s for s in chosen if s not in splits]
        if unknown:
            raise InputError(f"{uri}: no split {unknown[0]!r} (has {', '.join(splits)})")
        return [(u, s) for u, s in files if u.endswith(".arrow") and u[len(uri):].strip("/").split("/")[0] in chosen]
    if "state.json" in names and "dataset_info.json" in names:
        return [(u, s) for u, s in files if u.endswith(".arrow")]
    return None


def content_fingerprint(files: list[InputFile]) -> str:
    """Identifies the input by content (names, sizes, first and last 64 KiB), never by time."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.uri}\0{f.size}\0{f.format}\0{f.mapping}\0{f.lang}\0".encode())
        digest.update(storage.read_bytes(f.uri, 0, 65536))
        if f.size > 65536:
            digest.update(storage.read_bytes(f.uri, max(f.size - 65536, 0), 65536))
    return digest.hexdigest()


def read_file(spec: InputFile, batch_rows: int) -> Iterator[pa.Table]:
    """All rows of one file, in order, as tables of at most `batch_rows` rows."""
    mapping = dict(spec.mapping)
    rows: list[dict[str, Any]] = []
    try:
        for position, obj in formats.PARSERS[spec.format](spec.uri):
            rows.extend(safe_rows(obj, f"{spec.label}:{position}", mapping, spec.lang, spec.keep_fields))
            if len(rows) >= batch_rows:
                yield records_to_table(rows, REJECT_SCHEMA)
                rows = []
    except FileNotFoundError as err:
        raise InputError(f"input not found: {spec.uri}") from err
    except formats.FileError as err:
        raise InputError(str(err)) from None
    except formats.DECOMPRESSION_ERRORS as err:
        raise InputError(formats.describe_decompression_error(spec.uri, err)) from None
    if rows:
        yield records_to_table(rows, REJECT_SCHEMA)


class InstructionDatasource(Datasource):
    """Ray Data source: one read task per input file. `on_batch(stage, key, table)` counts rows.
    With `skip` (an object ref of an Arrow array of ids), rows with those ids are dropped after reading
    and counted with `on_skip` under `SKIPPED + file label` (a refresh's `skipped_seen`)."""

    def __init__(self, files: list[InputFile], batch_rows: int, on_batch: Callable[[str, str, pa.Table], None],
                 skip: Any = None, on_skip: Optional[Callable[[str, str, pa.Table], None]] = None):
        super().__init__()
        self.files, self.batch_rows, self.on_batch = files, batch_rows, on_batch
        self.skip, self.on_skip = skip, on_skip

    def estimate_inmemory_data_size(self) -> Optional[int]:
        return sum(f.size for f in self.files) * 3

    def get_read_tasks(self, parallelism: int, per_task_row_limit: Optional[int] = None,
                       data_context: Any = None) -> list[ReadTask]:
        return [ReadTask(self._reader(f), BlockMetadata(num_rows=None, size_bytes=f.size, exec_stats=None,
                                                        input_files=[f.uri]), schema=REJECT_SCHEMA)
                for f in self.files]

    def _reader(self, spec: InputFile) -> Callable[[], Iterator[pa.Table]]:
        batch_rows, on_batch, skip, on_skip = self.batch_rows, self.on_batch, self.skip, self.on_skip

        def read() -> Iterator[pa.Table]:
            seen = None
            if skip is not None:
                import ray
                seen = ray.get(skip)
            for n, table in enumerate(read_file(spec, batch_rows)):
                key = f"{spec.label}#{n}"
                if seen is not None:
                    table = drop_seen(table, seen, lambda old: on_skip(SKIPPED + spec.label, key, old))
                on_batch(READ_STAGE, key, table)
                if table.num_rows:
                    yield table
        return read


def drop_seen(table: pa.Table, seen: pa.Array, on_skip: Callable[[pa.Table], None]) -> pa.Table:
    """The rows whose id is not in `seen`; the others go to `on_skip` (a table, possibly empty)."""
    mask = pc.fill_null(pc.is_in(table.column("id"), value_set=seen), False)
    on_skip(table.filter(mask))
    return table.filter(pc.invert(mask))


def pop_skipped(totals: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Rows skipped per input label, removed from the stage totals."""
    labels = [k for k in totals if k.startswith(SKIPPED)]
    return {k[len(SKIPPED):]: totals.pop(k)["in"] for k in labels}
