"""What a reader trusting only `_manifest.json` sees, and the real CLI as a separate process."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Optional

from operators import storage

REPO = Path(__file__).resolve().parents[2]


def release_state(output_uri: str) -> Optional[str]:
    """The live release's run id (None: no manifest), after checking every listed file's bytes."""
    uri = storage.join(output_uri, "_manifest.json")
    if not storage.exists(uri):
        return None
    manifest = json.loads(storage.read_bytes(uri))
    listed = manifest["shards"] + manifest["rejects"] + manifest["exports"]
    listed += [manifest["report"]] if manifest.get("report") else []  # the report, published like the shards
    for entry in listed:
        data = storage.read_bytes(storage.join(output_uri, entry["path"]))
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{entry['path']} does not match the manifest"
    for artifact in manifest.get("artifacts", []):
        assert storage.exists(storage.join(output_uri, artifact["path"])), artifact
    return manifest["run_id"]


def unlisted_files(output_uri: str) -> list[str]:
    """Files under data/, rejects/ and exports/ that the live manifest does not list."""
    manifest = json.loads(storage.read_bytes(storage.join(output_uri, "_manifest.json")))
    listed = {e["path"] for e in manifest["shards"] + manifest["rejects"] + manifest["exports"]}
    found = []
    for sub in ("data", "rejects", "exports"):
        root = storage.join(output_uri, sub)
        found += [u[len(output_uri.rstrip("/")) + 1:] for u, _ in storage.list_files(root)]
    return sorted(set(found) - listed)


def cli_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"}
    env.update(extra)
    return env


def start_cli(*args: str, **env: str) -> subprocess.Popen:
    """`python -m pipelines ARGS` in its own session, so that it and its Ray can be killed as a group."""
    return subprocess.Popen([sys.executable, "-m", "pipelines", *args], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(**env))


def finish(proc: subprocess.Popen, timeout: float = 900) -> tuple[int, str, str]:
    """Wait for the CLI, then kill what is left of its process group (its Ray); (rc, stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc)
    return proc.returncode, out, err


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_cli(*args: str, timeout: float = 900, **env: str) -> tuple[int, str, str]:
    return finish(start_cli(*args, **env), timeout)


def write_config(path: Path, input_uri: str, output_uri: str, **output) -> Path:
    config = {"name": "crash", "inputs": [{"uri": input_uri}],
              "output": {"uri": output_uri, "shard_rows": 4, **output},
              "ray": {"num_cpus": 1, "batch_rows": 8}, "stages": ["normalize"]}
    path.write_text(json.dumps(config))
    return path


def write_rows(path: Path, label: str, n: int = 40) -> Path:
    rows = [{"instruction": f"{label} question number {i}?", "output": f"{label} answer {i}"} for i in range(n)]
    rows += [{"instruction": ""}] * 3  # rejects too
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@contextlib.contextmanager
def tmpfs(target: Path, options: str, why: str):
    """A tmpfs mounted at `target` (created) with mount `options`; skips, saying `why`, where mounting fails."""
    import pytest
    target.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"{why} ({mounted.stderr.strip() or 'not root?'})")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)
