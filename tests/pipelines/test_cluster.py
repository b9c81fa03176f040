"""Scale-out: a two-node cluster and `ray job submit` give what a local run gives."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.pipelines.helpers import published_rows, run

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.cluster


def config(data_dir, out):
    return {"name": "scale", "lang": "zh",
            "inputs": [{"uri": str(data_dir / "gpt4-llm-samples/alpaca_gpt4_zh_sample.json")},
                       {"uri": str(data_dir / "belle/eval_set.jsonl"),
                        "fields": {"instruction": "question", "output": "std_answer"}}],
            "output": {"uri": str(out), "shard_rows": 500}, "ray": {"batch_rows": 100}, "stages": ["normalize"]}


def run_on_cluster(raw, nodes: int) -> dict:
    result = subprocess.run([sys.executable, str(REPO / "tests/support/cluster_run.py"), json.dumps(raw), str(nodes)],
                            capture_output=True, text=True, timeout=900, env={**os.environ, "RAY_ADDRESS": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("MANIFEST="))
    return json.loads(line[len("MANIFEST="):])


def rows_by_id(out):
    return sorted((r["id"], r["source"], r["output"]) for r in published_rows(out))


@pytest.mark.usefixtures("ray_session")
def test_two_node_cluster_publishes_the_same_rows(data_dir, tmp_path):
    local = run(config(data_dir, tmp_path / "local"))
    manifest = run_on_cluster(config(data_dir, tmp_path / "cluster"), nodes=2)
    assert manifest["nodes"] == 2
    assert manifest["counts"] == local["counts"]
    assert rows_by_id(tmp_path / "cluster") == rows_by_id(tmp_path / "local")


def curate_config(data_dir, out):
    """configs/curate.yaml on the GPT-4 English sample (its exact duplicates give dedup work)."""
    import yaml
    raw = yaml.safe_load((REPO / "configs/curate.yaml").read_text())
    raw["inputs"] = [{"uri": str(data_dir / "gpt4-llm-samples/alpaca_gpt4_en_sample.json")}]
    raw["output"] = {"uri": str(out), "shard_rows": 300}
    raw["ray"] = {"batch_rows": 128}
    return raw


def shard_lines(out, kind):
    manifest = json.loads((out / "_manifest.json").read_text())
    return [json.dumps(r, sort_keys=True) for r in published_rows(out, kind)], manifest


@pytest.mark.usefixtures("ray_session")
def test_three_node_cluster_curates_to_the_same_shard_contents(data_dir, tmp_path):
    run(curate_config(data_dir, tmp_path / "local"))
    manifest = run_on_cluster(curate_config(data_dir, tmp_path / "cluster"), nodes=3)
    assert manifest["nodes"] == 3
    local_rows, local_manifest = shard_lines(tmp_path / "local", "shards")
    cluster_rows, _ = shard_lines(tmp_path / "cluster", "shards")
    assert cluster_rows == local_rows  # same rows in the same order
    assert sorted(shard_lines(tmp_path / "cluster", "rejects")[0]) == sorted(shard_lines(tmp_path / "local", "rejects")[0])
    assert manifest["stages"] == local_manifest["stages"]
    assert dict(manifest["stages"][-1]["reasons"]).get("exact_duplicate", 0) > 0


def _ray(*args, env, timeout=300):
    return subprocess.run([str(Path(sys.executable).parent / "ray"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _stop_head(temp_dir: str) -> None:
    """Stop only the processes of the head we started (`ray stop` would stop every Ray on the machine)."""
    import psutil
    victims = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(temp_dir in part for part in proc.info["cmdline"] or []):
                victims.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    for proc in victims:
        proc.terminate()
    psutil.wait_procs(victims, timeout=20)
    for proc in victims:
        if proc.is_running():
            proc.kill()


def test_ray_job_submit_from_repo_root(data_dir, tmp_path):
    temp_dir = f"/tmp/rj{os.getpid()}"
    gcs_port, dash_port = free_port(), free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": "",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = tmp_path / "job-out"
    try:
        started = _ray("start", "--head", f"--port={gcs_port}", "--num-cpus=2", "--dashboard-host=127.0.0.1",
                       f"--dashboard-port={dash_port}", f"--temp-dir={temp_dir}", "--disable-usage-stats",
                       "--include-dashboard=true", f"--dashboard-agent-listen-port={free_port()}",
                       f"--dashboard-agent-grpc-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
                       f"--metrics-export-port={free_port()}", env=env)
        assert started.returncode == 0, started.stderr[-2000:]
        submitted = None
        for _ in range(30):
            submitted = subprocess.run(
                [str(Path(sys.executable).parent / "ray"), "job", "submit", "--address",
                 f"http://127.0.0.1:{dash_port}", "--working-dir", ".", "--", "python", "-m", "pipelines", "run",
                 "configs/curate.yaml", "--input", str(data_dir / "gpt4-llm-samples/alpaca_gpt4_en_sample.json"),
                 "--output", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
            text = submitted.stderr + submitted.stdout
            if "Connection refused" not in text and "try again later" not in text:
                break
            time.sleep(2)
        assert submitted.returncode == 0, (submitted.stdout + submitted.stderr)[-3000:]
        assert "succeeded" in submitted.stdout
    finally:
        _stop_head(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["counts"]["input"] == 999
    assert manifest["counts"]["output"] + manifest["counts"]["rejected"] == 999 and manifest["counts"]["output"] > 900
