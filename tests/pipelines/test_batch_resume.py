"""Batch mode when the driver dies: the rerun collects, never resubmits; `batches cancel` stops everything."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.pipelines.cli_helpers import REPO, cli
from tests.pipelines.helpers import check_balance, run
from tests.support.llm_fixtures import endpoint_settings

pytestmark = pytest.mark.usefixtures("ray_session")


def write_config(tmp_path: Path, server, n: int) -> tuple[dict, Path]:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"Resumable question {i}.", "input": "", "output": ""}) + "\n"
                           for i in range(n)))
    endpoint = endpoint_settings(server, mode="batch", cache_uri=None, batch={"poll_s": 0.05, "poll_max_s": 0.2, "max_requests_per_file": 8})
    raw = {"name": "batch-resume", "lang": "en", "inputs": [{"uri": str(src)}],
           "output": {"uri": str(tmp_path / "out")}, "ray": {"batch_rows": 8}, "endpoint": endpoint,
           "stages": [{"generate_response": {}}]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return raw, path


def start_and_kill_after_submission(config: Path, ledger: Path, batches: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": ""}
    proc = subprocess.Popen([sys.executable, "-m", "pipelines", "run", str(config)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            records = [json.loads(p.read_text()) for p in ledger.glob("*.json")] if ledger.exists() else []
            if sum(1 for r in records if r.get("batch_id")) >= batches:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray it started, by the group we created
        proc.wait(30)


def test_killed_driver_rerun_collects_without_resubmitting(tmp_path, fake_openai):
    raw, path = write_config(tmp_path, fake_openai, 20)
    api = fake_openai.batches
    api.hold = True
    start_and_kill_after_submission(path, tmp_path / "out" / "_llm_cache_batches" / "ledger", 3)
    code, _, out, _ = cli("batches", "status", str(tmp_path / "out"))
    assert code == 0 and out.count("in_progress") == 3
    api.hold = False
    manifest = run(raw)
    check_balance(manifest, 20, tmp_path / "out")
    assert manifest["counts"]["output"] == 20 and fake_openai.total == 0
    assert len(api.accepted) == 20 and set(api.accepted.values()) == {1}  # no request submitted twice
    assert manifest["llm"]["generate_response"]["requests"] == 20  # bought by the batches, not cached


def test_cancel_leaves_nothing_running(tmp_path, fake_openai):
    _, path = write_config(tmp_path, fake_openai, 10)
    api = fake_openai.batches
    api.hold = True
    start_and_kill_after_submission(path, tmp_path / "out" / "_llm_cache_batches" / "ledger", 2)
    assert len(api.running()) == 2
    code, _, out, err = cli("batches", "cancel", str(tmp_path / "out"))
    assert code == 0, err
    assert api.running() == [] and {b["status"] for b in api.batches.values()} == {"cancelled"}
    assert "0 batch(es) still running" in out and fake_openai.expected_key not in out + err
