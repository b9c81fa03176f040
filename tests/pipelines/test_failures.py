"""A run that fails or is killed before its commit publishes nothing (and leaves an old release intact)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from operators.base import Operator
from operators.registry import register
from tests.pipelines.helpers import check_manifest_files, run

REPO = Path(__file__).resolve().parents[2]


@register
class Boom(Operator):
    """Test-only operator that fails the job on a marker row."""
    name = "test_boom"
    input_columns = ("instruction",)

    def __call__(self, batch: pa.Table) -> pa.Table:
        if any("BOOM" in t for t in batch.column("instruction").to_pylist()):
            raise RuntimeError("boom")
        return batch


@pytest.mark.usefixtures("ray_session")
def test_failed_run_publishes_nothing_and_keeps_old_release(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"instruction": "fine"}\n' * 5)
    out = tmp_path / "out"
    old = run({"name": "f", "inputs": [{"uri": str(good)}], "output": {"uri": str(out)}, "stages": ["test_boom"]})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "fine"}\n{"instruction": "BOOM"}\n')
    with pytest.raises(Exception, match="boom"):
        run({"name": "f", "inputs": [{"uri": str(bad)}], "output": {"uri": str(out)}, "stages": ["test_boom"]})
    check_manifest_files(out, old)
    assert sorted(p.name for p in (out / "data").iterdir()) == [s["path"].split("/")[-1] for s in old["shards"]]


def test_sigkill_before_commit_publishes_nothing(data_dir, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "run", str(REPO / "configs/curate.yaml"),
         "--input", str(data_dir / "alpaca_parallel_en_zh_52k.jsonl.gz"),
         "--fields", "instruction=en_instruction,input=en_input,output=en_output", "--output", str(out),
         "--set", "output.shard_rows=2000", "ray.batch_rows=500"],
        cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": ""})
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            staged = list((out / "_staging").rglob("*.jsonl.gz")) if (out / "_staging").exists() else []
            if staged:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "_manifest.json").exists()
    assert not (out / "data").exists() or not any((out / "data").iterdir())
