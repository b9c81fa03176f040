"""Versioned releases under one ROOT (see docs/refresh.md); no Ray here.

    ROOT/latest.json                 the pointer, written last (one PUT / temp + rename)
    ROOT/releases/v=N/               an ordinary published output (_manifest.json, data/, rejects/, ...)
    ROOT/_llm_cache/                 the response cache every release shares
    ROOT/_lock.json                  held by a running refresh

A release's manifest carries `release` (version, parent, what it skipped, the cumulative lists of seen-id
files and dedup indexes it depends on) and `dataset` (every shard of the full dataset, this release's
and earlier ones', by path relative to ROOT). Only the release `latest.json` names, and the releases its
manifest lists, are releases; a folder above the latest version is an unfinished attempt.
"""
from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from operators import storage
from pipelines.io.errors import InputError
from pipelines.io.layout import MANIFEST

RELEASES = "releases"
LATEST = "latest.json"
_VERSION_DIR = re.compile(r"^v=(\d+)$")
SEEN_SCHEMA = pa.schema([("id", pa.string())])


class ReleaseError(InputError):
    """The releases under a ROOT are not in a state a refresh may build on (names the file)."""


def release_path(version: int) -> str:
    """Path of release `version` relative to ROOT."""
    return f"{RELEASES}/v={version}"


def release_uri(root: str, version: int) -> str:
    return storage.join(root, RELEASES, f"v={version}")


def under_root(version: int, path: str) -> str:
    """A path relative to release `version` -> relative to ROOT."""
    return f"{release_path(version)}/{path}"


@dataclass
class History:
    """What earlier releases hold: read from `latest.json` and the manifests it leads to."""
    root: str
    latest: Optional[dict[str, Any]] = None  # the pointer
    manifest: Optional[dict[str, Any]] = None  # the latest release's manifest
    manifests: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return int(self.latest["version"]) if self.latest else 0

    @property
    def release(self) -> dict[str, Any]:
        return (self.manifest or {}).get("release") or {}

    def cumulative(self, key: str) -> list:
        return list(self.release.get(key) or [])

    @property
    def dataset(self) -> dict[str, Any]:
        return (self.manifest or {}).get("dataset") or {"rows": 0, "shards": []}


def _read_json(uri: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(storage.read_bytes(uri).decode("utf-8"))
    except FileNotFoundError:
        raise ReleaseError(f"{what} {uri} is missing") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ReleaseError(f"{what} {uri} is corrupted ({type(err).__name__}: {err}); restore it or "
                           f"point latest.json at an intact release") from None
    if not isinstance(data, dict):
        raise ReleaseError(f"{what} {uri} is corrupted (not a JSON object)")
    return data


def _check_manifest(uri: str, manifest: dict[str, Any], version: int) -> None:
    missing = [k for k in ("run_id", "counts", "shards", "rejects", "release", "dataset") if k not in manifest]
    if missing:
        raise ReleaseError(f"release manifest {uri} is corrupted or not a refresh release "
                           f"(missing {', '.join(missing)})")
    if int(manifest["release"].get("version", -1)) != version:
        raise ReleaseError(f"release manifest {uri} says version {manifest['release'].get('version')}, "
                           f"its folder says {version}")


def read_manifest_of(root: str, version: int) -> dict[str, Any]:
    uri = storage.join(release_uri(root, version), MANIFEST)
    manifest = _read_json(uri, "release manifest")
    _check_manifest(uri, manifest, version)
    return manifest


def load_history(root: str) -> History:
    """The latest release and every release it depends on, each manifest checked; folders above the
    latest version other than the next one mean the root was tampered with."""
    history = History(root)
    latest_uri = storage.join(root, LATEST)
    if storage.exists(latest_uri):
        history.latest = _read_json(latest_uri, "release pointer")
        if not isinstance(history.latest.get("version"), int):
            raise ReleaseError(f"release pointer {latest_uri} is corrupted (no integer version)")
        history.manifest = read_manifest_of(root, history.version)
        for version in history.release.get("releases", [history.version]):
            history.manifests[version] = (history.manifest if version == history.version
                                          else read_manifest_of(root, version))
    strays = [v for v in existing_versions(root) if v > history.version + 1]
    if strays:
        raise ReleaseError(f"{release_uri(root, strays[0])} exists but {latest_uri} "
                           f"{'points to v=%d' % history.version if history.latest else 'is missing'}: "
                           f"versions are never reused; restore latest.json or move the folder away")
    return history


def existing_versions(root: str) -> list[int]:
    found = []
    for uri in storage.list_children(storage.join(root, RELEASES)):
        match = _VERSION_DIR.match(uri.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1])
        if match:
            found.append(int(match.group(1)))
    return sorted(found)


def read_seen(root: str, paths: list[str]) -> Optional[pa.Array]:
    """Ids processed by earlier releases (the union of their seen-id files), or None for none."""
    arrays = []
    for path in paths:
        uri = storage.join(root, path)
        fs, inner = storage.filesystem(uri)
        try:
            arrays.append(pq.read_table(inner, filesystem=fs, columns=["id"]).column("id"))
        except (OSError, pa.ArrowInvalid) as err:
            raise ReleaseError(f"seen-id file {uri} of an earlier release cannot be read ({err})") from None
    if not arrays:
        return None
    return pa.chunked_array([c for a in arrays for c in a.chunks], pa.string()).combine_chunks().unique()


def write_seen(uri: str, ids: list[str]) -> dict[str, Any]:
    """The ids this release settled, as Parquet (one PUT on S3); returns rows and bytes."""
    buf = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": pa.array(sorted(set(ids)), pa.string())}, schema=SEEN_SCHEMA), buf,
                   compression="zstd")
    data = buf.getvalue().to_pybytes()
    storage.write_bytes(uri, data)
    return {"rows": len(set(ids)), "bytes": len(data)}


def pointer(manifest: dict[str, Any]) -> dict[str, Any]:
    """latest.json: version, manifest, counts, time, and the data files of the full dataset."""
    release, dataset = manifest["release"], manifest["dataset"]
    files: dict[str, list[str]] = {}
    for shard in dataset["shards"]:
        files.setdefault(shard.get("format", "jsonl"), []).append(shard["path"])
    return {"version": release["version"],
            "manifest": under_root(release["version"], MANIFEST),
            "run_id": manifest["run_id"],
            "published_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "rows": dataset["rows"],
            "new_rows": manifest["counts"]["output"],
            "skipped_seen": release.get("skipped_seen", 0),
            "data_files": files}


def write_latest(root: str, manifest: dict[str, Any]) -> dict[str, Any]:
    from pipelines.io.publish import crashpoint
    latest = pointer(manifest)
    crashpoint("latest")
    storage.write_bytes(storage.join(root, LATEST),
                        (json.dumps(latest, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    return latest


def referenced_paths(manifest: dict[str, Any]) -> set[str]:
    """Paths (relative to ROOT) a release needs: its dataset's shards, seen-id files and indexes."""
    release = manifest.get("release") or {}
    paths = {s["path"] for s in (manifest.get("dataset") or {}).get("shards", [])}
    return paths | set(release.get("seen") or []) | set(release.get("indexes") or [])


def window(history: History, version: int, keep: Optional[int]) -> list[int]:
    """Versions that stay releases once `version` is published: the `keep` newest (all without it)."""
    versions = sorted(set(history.manifests) | {version})
    return versions if not keep else versions[-keep:]


def apply_retention(root: str, manifest: dict[str, Any]) -> list[int]:
    """Versions the new release no longer lists as releases lose their manifest, card and rejects;
    files a listed release still references (shards, seen ids, indexes) stay where they are, and a
    folder goes once nothing in it is referenced. Never touches latest.json. Returns the versions."""
    kept = set(manifest["release"]["releases"])
    needed = referenced_paths(manifest)
    base = storage.filesystem(root)[1].rstrip("/")
    removed = []
    for version in existing_versions(root):
        if version in kept or version > manifest["release"]["version"]:
            continue
        prefix = release_path(version) + "/"
        folder = release_uri(root, version)
        manifest_uri = storage.join(folder, MANIFEST)
        was_release = storage.exists(manifest_uri)
        if was_release:
            storage.delete(manifest_uri)  # first: from here on the version is no longer a release
        left = 0
        for uri, _ in storage.list_files(folder):
            path = storage.filesystem(uri)[1][len(base):].strip("/").replace("\\", "/")
            if path in needed or any(path.startswith(n.rstrip("/") + "/") for n in needed):
                left += 1
            else:
                storage.delete(uri)
        if not left and not any(n.startswith(prefix) for n in needed):
            storage.delete(folder)
        if was_release:
            removed.append(version)
    return removed
