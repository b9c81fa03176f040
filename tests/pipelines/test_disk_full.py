"""A full disk during a run (a small tmpfs as the output, real CLI processes): the run fails, the
previous release stays complete, no empty or partial `_manifest.json` appears, and once there is room
the next run succeeds."""
import json
import os

import pytest

from tests.pipelines.release_check import release_state, run_cli, tmpfs, unlisted_files, write_config, write_rows


@pytest.fixture
def small_disk(tmp_path):
    with tmpfs(tmp_path / "disk", "size=2m", "cannot mount a 2 MiB tmpfs") as target:
        yield target


def fill(disk, leave: int) -> None:
    """Occupy the disk's free space but `leave` bytes."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(disk / "filler", "ab") as handle:
        handle.write(b"\0" * max(free - leave, 0))


def test_no_room_never_costs_the_previous_release(tmp_path, small_disk):
    out = str(small_disk / "out")
    old_cfg = write_config(tmp_path / "old.yaml", str(write_rows(tmp_path / "old.jsonl", "OLD")), out)
    new_cfg = write_config(tmp_path / "new.yaml", str(write_rows(tmp_path / "new.jsonl", "NEW")), out)
    rc, _, err = run_cli("run", str(old_cfg))
    assert rc == 0, err[-1500:]
    old = release_state(out)
    release_bytes = sum(e.stat().st_size for e in (small_disk / "out").rglob("*") if e.is_file())
    failures = []
    for leave in (0, 16 << 10, 48 << 10, 64 << 10):  # 4 KiB pages: shards, then only the manifest, fit
        fill(small_disk, leave)
        rc, _, err = run_cli("run", str(new_cfg))
        manifest = small_disk / "out" / "_manifest.json"
        assert manifest.stat().st_size > 0 and json.loads(manifest.read_text())
        live = release_state(out)
        if rc != 0:
            assert live == old and "No space left on device" in err, err[-1500:]
            failures.append(leave)
        (small_disk / "filler").unlink()
        if rc == 0:
            break
    assert failures, f"the disk was never full enough (release of {release_bytes} bytes)"
    print(f"runs failed for lack of room with {failures} bytes left; previous release intact each time")
    rc, _, err = run_cli("run", str(new_cfg))
    assert rc == 0, err[-1500:]
    assert release_state(out) not in (None, old) and unlisted_files(out) == []
