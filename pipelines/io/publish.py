"""Publishing a run without ever endangering the live release (see docs/publishing.md).

1. Staged files move to their final names. Names carry a hash of their content
   (`data/part-TTTTT-SSSS-<sha12>.jsonl.gz`), so they never collide with a file of the live release
   unless the bytes are identical; nothing the live `_manifest.json` lists is deleted or changed.
2. `_manifest.json` is replaced in one step (a temp file renamed over it; one PUT on S3): the commit.
3. Only then are files that the manifest does not list deleted; a run that was killed before that
   leaves them to the next run's `collect_garbage`, which runs under the output's lock.
"""
from __future__ import annotations

import json
import os
import signal
import time
from typing import Any, Iterable

from operators import storage
from pipelines.io.layout import MANIFEST, STAGING, ManifestError, read_manifest  # noqa: F401

RELEASE_DIRS = ("data", "rejects", "exports", "reports", "_artifacts")
LEGACY_FILES = ("_dedup_index",)  # an index beside the data, as written before manifests listed it
CRASH_ENV = "INSTRUCTPIPE_TEST_CRASH"  # tests only: `kill:POINT` or `pause:SECONDS` at every point


def crashpoint(name: str) -> None:
    """A named moment of publishing where tests make the process die (or slow down)."""
    action = os.environ.get(CRASH_ENV, "")
    if action == f"kill:{name}":
        os.kill(os.getpid(), signal.SIGKILL)
    if action.startswith("pause:"):
        time.sleep(float(action[len("pause:"):]))


def move_into_place(output_uri: str, staging_uri: str, files: Iterable[dict[str, Any]]) -> None:
    for f in files:
        crashpoint("move")
        storage.move(storage.join(staging_uri, f["path"]), storage.join(output_uri, f["path"]))


def commit(output_uri: str, manifest: dict[str, Any]) -> None:
    crashpoint("manifest")
    text = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
    storage.write_bytes(storage.join(output_uri, MANIFEST), text.encode("utf-8"))
    crashpoint("committed")


def listed_paths(manifest: dict[str, Any]) -> set[str]:
    files = manifest.get("shards", []) + manifest.get("rejects", []) + manifest.get("exports", [])
    files += [manifest["report"]] if isinstance(manifest.get("report"), dict) else []
    return {f["path"] for f in files} | {a["path"] for a in manifest.get("artifacts", [])}


def collect_garbage(output_uri: str, manifest: dict[str, Any] | None) -> int:
    """Delete staging and every release file the live manifest does not list; returns files deleted.
    Without a manifest only staging goes (unlisted shards of a first, unfinished run wait for one)."""
    deleted = 0
    staging = storage.join(output_uri, STAGING)
    if storage.exists(staging):
        storage.delete(staging)
        deleted += 1
    if manifest is None:
        return deleted
    keep = listed_paths(manifest)
    base = storage.filesystem(output_uri)[1].rstrip("/")
    for uri in _release_files(output_uri):
        rel = storage.filesystem(uri)[1][len(base):].strip("/").replace(os.sep, "/")
        if rel not in keep and not any(k.startswith(rel + "/") for k in keep):
            crashpoint("gc")
            storage.delete(uri)
            deleted += 1
    return deleted


def _release_files(output_uri: str) -> list[str]:
    found = [storage.join(output_uri, name) for name in LEGACY_FILES if storage.exists(storage.join(output_uri, name))]
    found += [uri for uri in storage.list_children(output_uri) if _is_temp(uri)]
    for sub in RELEASE_DIRS:
        root = storage.join(output_uri, sub)
        if sub.startswith("_"):
            found += storage.list_children(root)  # artifacts are directories, kept or deleted whole
        else:
            found += [uri for uri, _ in storage.list_files(root)] if storage.exists(root) else []
    return found


def _is_temp(uri: str) -> bool:
    name = uri.rstrip("/").rsplit("/", 1)[-1].rsplit(os.sep, 1)[-1]
    return name.startswith(".") and ".tmp-" in name  # a write killed before its rename


def live_manifest(output_uri: str) -> dict[str, Any] | None:
    try:
        return read_manifest(output_uri)
    except FileNotFoundError:
        return None
