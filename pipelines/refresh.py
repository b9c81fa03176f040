"""`instructpipe refresh CONFIG`: the next versioned release under ROOT, paying only for what is new.

Under ROOT's lock: read the releases so far (`latest.json` and the manifests it leads to, each checked),
list the inputs afresh, skip whole files an earlier release settled and rows whose id an earlier
release settled (`skipped_seen`), and run the rest through the ordinary runner into
`releases/v=N/` with dedup against every earlier release's index and the shared response cache.
The release's manifest is committed by the runner; `latest.json` is written after it, last.
Layout and guarantees: docs/refresh.md.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import sys
from dataclasses import dataclass
from typing import Any, Optional

import pyarrow as pa
import pyarrow.compute as pc

from operators import storage
from pipelines.config import ConfigError, PipelineConfig, interpolate, load_config, validate
from pipelines.io import releases
from pipelines.io.lock import OutputLock
from pipelines.io.readers import InputFile, read_file
from pipelines.io.releases import History, release_uri, under_root
from pipelines.refresh_readback import settled_rows

log = logging.getLogger("instructpipe")
CACHE_DIR = "_llm_cache"


@dataclass
class ReleaseRun:
    """What the runner needs to produce release `version` (see runner.run_pipeline's `release`)."""
    root: str
    version: int
    history: History
    files: list[InputFile]
    file_keys: dict[str, str]
    skipped_whole: list[dict[str, Any]]  # files an earlier release settled: not read at all
    skip_ids: Optional[pa.Array]
    lock: OutputLock
    keep: Optional[int]

    def finish(self, manifest: dict[str, Any], staging: str, skipped: dict[str, int]) -> None:
        """Before the commit: this release's seen ids as an artifact, and the `release` / `dataset` entries."""
        v, history = self.version, self.history
        ids, rows, unsettled = settled_rows(staging, manifest)
        seen_path = f"_artifacts/{manifest['run_id']}-{self.lock.token[:8]}/seen_ids.parquet"
        info = releases.write_seen(storage.join(release_uri(self.root, v), seen_path), ids)
        manifest["artifacts"] = manifest.get("artifacts", []) + [{"kind": "seen_ids", "path": seen_path, **info}]
        files = [{"uri": f.uri, "key": self.file_keys[f.label], "rows": rows.get(f.label, 0) + skipped.get(f.label, 0),
                  "settled": not unsettled.get(f.label, 0)} for f in self.files]
        done = {d["key"]: d for d in history.cumulative("done_files")}
        done.update({f["key"]: {"key": f["key"], "rows": f["rows"]} for f in files if f["settled"]})
        skipped_total = sum(skipped.values()) + sum(f["rows"] for f in self.skipped_whole)
        new_shards = [{**s, "path": under_root(v, s["path"]), "release": v} for s in manifest["shards"]]
        indexes = [under_root(v, a["path"]) for a in manifest.get("artifacts", []) if a["kind"] == "dedup_index"]
        manifest["counts"]["skipped_seen"] = skipped_total
        manifest["release"] = {
            "version": v, "parent": history.version or None, "skipped_seen": skipped_total,
            "skipped_files": [f["uri"] for f in self.skipped_whole], "files": files,
            "done_files": sorted(done.values(), key=lambda d: d["key"]),
            "seen": history.cumulative("seen") + [under_root(v, seen_path)],
            "indexes": history.cumulative("indexes") + indexes,
            "releases": releases.window(history, v, self.keep)}
        manifest["dataset"] = {"rows": history.dataset["rows"] + manifest["counts"]["output"],
                               "shards": history.dataset["shards"] + new_shards}


def file_key(f: InputFile) -> str:
    """Identifies what a file contributes: its bytes and how they are read (format, mapping, language)."""
    digest = hashlib.sha256()
    with storage.open_read(f.uri) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    how = json.dumps([f.format, list(f.mapping), f.lang, list(f.keep_fields)], sort_keys=True)
    return hashlib.sha256(f"{digest.hexdigest()}\0{how}".encode()).hexdigest()


def split_files(files: list[InputFile], history: History) -> tuple[list[InputFile], dict[str, str], list[dict]]:
    """(files to read, key per label, files an earlier release settled: skipped whole)."""
    done = {d["key"]: d["rows"] for d in history.cumulative("done_files")}
    todo, keys, whole = [], {}, []
    for f in files:
        keys[f.label] = key = file_key(f)
        if key in done:
            whole.append({"uri": f.label, "rows": done[key]})
        else:
            todo.append(f)
    return todo, keys, whole


def scan_rows(files: list[InputFile], seen: Optional[pa.Array], batch_rows: int,
              stop_at: int = 0) -> tuple[int, int]:
    """(rows whose id is not in `seen`, rows read) of `files`, in one pass that stops once `stop_at`
    new rows were found (if given)."""
    found = total = 0
    for f in files:
        for table in read_file(f, batch_rows):
            total += table.num_rows
            found += table.num_rows if seen is None else table.num_rows - int(
                pc.sum(pc.fill_null(pc.is_in(table.column("id"), value_set=seen), False).cast(pa.int64())).as_py() or 0)
            if stop_at and found >= stop_at:
                return found, total
    return found, total


def release_config(raw: dict[str, Any], path: str, root: str, version: int,
                   history: History) -> tuple[PipelineConfig, dict[str, Any]]:
    """The config of release `version`: its folder as output, the shared cache, dedup against every
    earlier release's index."""
    raw = copy.deepcopy(raw)
    raw["output"]["uri"] = release_uri(root, version)
    if isinstance(raw.get("endpoint"), dict) and raw["endpoint"].get("cache_uri") is None:
        raw["endpoint"]["cache_uri"] = storage.join(root, CACHE_DIR)
    against = [storage.join(root, p) for p in history.cumulative("indexes")]
    stages = raw.get("stages") or []
    for i, item in enumerate(stages):
        if item == "dedup" or (isinstance(item, dict) and "dedup" in item):
            params = dict((item.get("dedup") if isinstance(item, dict) else None) or {})
            params["against"] = list(params.get("against") or []) + against
            stages[i] = {"dedup": params}
    return validate(interpolate(copy.deepcopy(raw), path), path), raw


def prepare(cfg: PipelineConfig, root: str) -> tuple[History, list[InputFile], dict, list, Optional[pa.Array]]:
    from pipelines.runner import list_inputs
    history = releases.load_history(root)
    todo, keys, whole = split_files(list_inputs(cfg), history)
    return history, todo, keys, whole, releases.read_seen(root, history.cumulative("seen"))


def refresh_command(args) -> int:
    from pipelines.preflight import check_before_work
    cfg, raw = load_config(args.config, args.overrides, args.inputs, args.output)
    if cfg.source is not None:  # nothing lands for it: its rows come from the model (docs/refresh.md)
        raise ConfigError(f"{args.config}: `instructpipe refresh` needs `inputs:` (new files under them become "
                          f"the next release); a bootstrapping `source:` config generates its rows instead, so "
                          f"there is nothing new to pick up. Grow it with `instructpipe run` (a larger "
                          f"source.target resumes from the response cache), or refresh a config whose "
                          f"`inputs:` are the generated rows")
    root = cfg.output.uri
    check_before_work(cfg, list_remote=True)
    if args.dry_run:
        from pipelines.refresh_plan import dry_run
        return dry_run(cfg, raw, args.config, root, prepare(cfg, root), args.json)
    with OutputLock(root, purpose="instructpipe refresh", ttl_s=cfg.output.lock_ttl_s,
                    force=args.force_unlock) as lock:
        history, todo, keys, whole, seen = prepare(cfg, root)
        fresh, read = scan_rows(todo, seen, cfg.ray.batch_rows, stop_at=1) if history.latest else (1, 0)
        if not fresh:
            skipped = sum(f["rows"] for f in whole) + read
            print(f"nothing new under {root}: {skipped} input row(s), all processed by earlier releases; "
                  f"latest stays v={history.version}; nothing was published")
            return 0
        version = history.version + 1
        rcfg, rraw = release_config(raw, args.config, root, version, history)
        run = ReleaseRun(root, version, history, todo, keys, whole, seen, lock, cfg.output.keep_releases)
        from pipelines.runner import run_pipeline
        manifest = run_pipeline(rcfg, rraw, address=args.address, release=run)
        lock.check()  # a refresh whose lock was taken over must not move latest.json
        latest = releases.write_latest(root, manifest)
        removed = releases.apply_retention(root, manifest) if cfg.output.keep_releases else []
    print_release(root, manifest, latest, removed, cfg.output.keep_releases, args.json)
    return 0


def print_release(root: str, manifest: dict[str, Any], latest: dict[str, Any], removed: list[int],
                  keep: Optional[int], as_json: bool) -> None:
    from pipelines.card import summary_table
    c, release = manifest["counts"], manifest["release"]
    print(summary_table(manifest))
    print(f"released v={release['version']} of {root} (run {manifest['run_id']}, {manifest['elapsed_s']} s): "
          f"{c['output']} new row(s) published, {c['rejected']} rejected, {c['skipped_seen']} skipped as "
          f"processed by earlier releases; the dataset has {manifest['dataset']['rows']} rows; "
          f"latest.json -> {latest['manifest']}")
    if removed:
        print(f"retention (output.keep_releases={keep}): versions "
              f"{', '.join(f'v={v}' for v in removed)} are no longer releases")
    if as_json:
        print(json.dumps(manifest, ensure_ascii=False))
    sys.stdout.flush()
