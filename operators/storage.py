"""Local paths, s3:// and gs:// behind one small API (pyarrow filesystems and smart_open); the one
storage module, used by the I/O edges of the pipeline and by the LLM cache and the dedup index.

S3 endpoint, keys and region come from the standard AWS environment variables
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION).
"""
from __future__ import annotations

import os
import posixpath
import uuid
from typing import IO, Iterator

import pyarrow.fs as pafs

REMOTE_SCHEMES = ("s3://", "gs://", "gcs://")


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_SCHEMES)


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return posixpath.join(base.rstrip("/"), *parts)
    return os.path.join(base, *parts)


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path inside it) for a URI or a local path."""
    if is_remote(uri):
        if uri.startswith("s3://") and os.environ.get("AWS_ENDPOINT_URL"):
            fs = pafs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL"],
                                   region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
            return fs, uri[len("s3://"):]
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def to_uri(fs: pafs.FileSystem, path: str, like: str) -> str:
    """Turn a path inside `fs` back into a URI of the same scheme as `like`."""
    if is_remote(like):
        return like.split("://", 1)[0] + "://" + path
    return path


def info(uri: str) -> pafs.FileInfo:
    fs, path = filesystem(uri)
    return fs.get_file_info(path)


def exists(uri: str) -> bool:
    return info(uri).type != pafs.FileType.NotFound


def is_dir(uri: str) -> bool:
    return info(uri).type == pafs.FileType.Directory


def list_files(uri: str) -> list[tuple[str, int]]:
    """Every file below `uri` as (uri, size), sorted; hidden and `_`-prefixed entries skipped."""
    fs, path = filesystem(uri)
    selector = pafs.FileSelector(path, recursive=True, allow_not_found=True)
    found = []
    for entry in fs.get_file_info(selector):
        rel = entry.path[len(path):].lstrip("/")
        if entry.type != pafs.FileType.File or any(p.startswith(("_", ".")) for p in rel.split("/")):
            continue
        found.append((to_uri(fs, entry.path, uri), entry.size))
    return sorted(found)


def open_read(uri: str, binary: bool = True) -> IO:
    """Open for streaming reads; `.gz`/`.bz2`/`.zst` are decompressed by suffix."""
    import smart_open  # here, not at the top: it takes 0.5 s to import and the CLI's checks need none of it
    return smart_open.open(uri, "rb" if binary else "r", encoding=None if binary else "utf-8")


def read_bytes(uri: str, start: int = 0, length: int | None = None) -> bytes:
    fs, path = filesystem(uri)
    with fs.open_input_file(path) as handle:
        handle.seek(start)
        return handle.read(length) if length is not None else handle.read()


def write_bytes(uri: str, data: bytes) -> None:
    """Write a whole object atomically: one PUT on object storage (invisible until complete); locally a
    hidden temp file beside the target, fsynced, then renamed over it. A failed write (a full disk)
    leaves the previous file, never a truncated one."""
    fs, path = filesystem(uri)
    if is_remote(uri):
        with fs.open_output_stream(path, compression=None) as handle:
            handle.write(data)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def move(src: str, dst: str) -> None:
    fs, src_path = filesystem(src)
    _, dst_path = filesystem(dst)
    if is_remote(src):
        fs.copy_file(src_path, dst_path)
        fs.delete_file(src_path)
    else:
        os.makedirs(os.path.dirname(dst_path), exist_ok=True)
        os.replace(src_path, dst_path)


def list_children(uri: str) -> list[str]:
    """Direct children (files and directories) of `uri`, hidden ones included; [] if it is absent."""
    fs, path = filesystem(uri)
    selector = pafs.FileSelector(path, recursive=False, allow_not_found=True)
    return sorted(to_uri(fs, entry.path, uri) for entry in fs.get_file_info(selector))


def delete(uri: str) -> None:
    fs, path = filesystem(uri)
    entry = fs.get_file_info(path)
    if entry.type == pafs.FileType.File:
        fs.delete_file(path)
    elif entry.type == pafs.FileType.Directory:
        fs.delete_dir(path)


def iter_lines(uri: str) -> Iterator[bytes]:
    with open_read(uri) as handle:
        yield from handle


def open_write(uri: str, binary: bool = False) -> IO:
    """Streaming write (multipart on S3: nothing is visible until the handle closes cleanly)."""
    if not is_remote(uri):
        os.makedirs(os.path.dirname(os.path.abspath(uri)), exist_ok=True)
    import smart_open
    return smart_open.open(uri, "wb" if binary else "w", encoding=None if binary else "utf-8",
                           compression="disable")
