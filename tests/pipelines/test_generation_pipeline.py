"""generate_response through the real runner on a local Ray, against the fake OpenAI server."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from operators.llm.cache import cache_key
from operators.llm.prompts import build_messages
from tests.pipelines.helpers import check_balance, published_rows, run
from tests.support.llm_fixtures import CANARY_KEY, endpoint_settings
from tests.support.openai_server import FakeOpenAI

pytestmark = pytest.mark.usefixtures("ray_session")
REPO = Path(__file__).resolve().parents[2]
STAGE = "generate_response"
PARAMS = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 512}


def write_input(path: Path, instructions: list[str]) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for ins in instructions:
            f.write(json.dumps({"instruction": ins, "input": "", "output": ""}) + "\n")
    return str(path)


def config(tmp_path: Path, uri: str, endpoint: dict, out: str = "out") -> dict:
    return {"name": "gen-test", "lang": "en", "inputs": [{"uri": uri}],
            "output": {"uri": str(tmp_path / out), "alpaca_json": "alpaca_gpt4_data.json"},
            "ray": {"batch_rows": 8}, "endpoint": endpoint, "stages": [{STAGE: {}}]}


def generate_stage(manifest: dict) -> dict:
    return next(s for s in manifest["stages"] if s["name"] == STAGE)


def test_fault_matrix_through_the_pipeline(tmp_path):
    faults = ["429", "500", "503", "400", "context", "reset", "hang", "malformed", "empty", "length",
              "content_filter"]
    instructions = [f"Fault {f} always [[fault:{f}]]" for f in faults]
    instructions += [f"Fault {f} once [[fault:{f}x1]]" for f in faults]
    instructions += [f"Clean question number {i}" for i in range(30)]
    with FakeOpenAI(latency_s=0.02, retry_after_s=0.1, hang_s=2.0, expected_key=CANARY_KEY,
                    fault_rates={"503": 0.1, "reset": 0.05}, seed=1) as server:
        endpoint = endpoint_settings(server, timeout_s=0.5, num_actors=2, concurrency_per_actor=8,
                                     cache_uri=str(tmp_path / "cache"), limiter="cluster")
        raw = config(tmp_path, write_input(tmp_path / "in.jsonl", instructions), endpoint)
        manifest = run(raw)
        check_balance(manifest, len(instructions), tmp_path / "out")
        stage = generate_stage(manifest)
        assert stage["in"] == len(instructions) == stage["out"] + stage["rejected"]
        assert manifest["counts"]["output"] + manifest["counts"]["rejected"] == len(instructions)
        assert max(server.counts.values()) <= 1 + endpoint["max_retries"]
        out, rejects = published_rows(tmp_path / "out"), published_rows(tmp_path / "out", "rejects")
        assert len({r["id"] for r in out + rejects}) == len(instructions)
        reasons = {r["instruction"]: r["reason"] for r in rejects}
        assert reasons[instructions[faults.index("400")]] == "api_error:400"
        assert reasons[instructions[faults.index("content_filter")]] == "content_filter"
        assert reasons[instructions[faults.index("length")]] == "truncated"
        assert reasons[instructions[faults.index("hang")]] == "retries_exhausted:timeout"
        for path in (tmp_path / "out").rglob("*"):
            if path.is_file():
                assert CANARY_KEY.encode() not in path.read_bytes()

        # Rerun: answered rows cost nothing; only rows that failed retryably are asked again.
        server.reset_counts()
        run(raw)
        answered = {r["instruction"] for r in out} | {reasons_key for reasons_key, reason in reasons.items()
                                                         if reason in ("truncated", "content_filter")}
        assert not [p for p in server.counts if any(a in p for a in answered)]


def actor_pids() -> list[int]:
    """Generation actors of this test session's own Ray (Ray titles them `ray::MapWorker(...(_ActorStage))`).
    Only descendants of this process are looked at: the local Ray it started, never anyone else's."""
    import psutil
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "_ActorStage" in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def test_killed_actor_loses_and_duplicates_nothing_and_rerun_is_free(tmp_path):
    instructions = [f"Actor kill question {i}" for i in range(64)]
    with FakeOpenAI(latency_s=0.3, expected_key=CANARY_KEY) as server:
        endpoint = endpoint_settings(server, concurrency_per_actor=4, cache_uri=str(tmp_path / "cache"),
                                     cache_flush_s=0.2)
        raw = config(tmp_path, write_input(tmp_path / "in.jsonl", instructions), endpoint)
        killed = []

        def kill_one_actor_mid_batch():
            deadline = time.monotonic() + 120
            while server.total < 12 and time.monotonic() < deadline:
                time.sleep(0.05)
            for pid in actor_pids()[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        killer = threading.Thread(target=kill_one_actor_mid_batch, daemon=True)
        killer.start()
        manifest = run(raw)
        killer.join()
        assert killed, "no generation actor was found to kill"
        check_balance(manifest, len(instructions), tmp_path / "out")
        rows = published_rows(tmp_path / "out")
        assert sorted(r["instruction"] for r in rows) == sorted(instructions)
        assert len({r["id"] for r in rows}) == 64 and all(r["output"] for r in rows)
        exported = json.loads((tmp_path / "out" / manifest["exports"][0]["path"]).read_text())
        assert len(exported) == 64 and set(exported[0]) == {"instruction", "input", "output"}

        server.reset_counts()
        manifest = run(raw)
        assert server.total == 0  # a second identical run makes no requests
        assert generate_stage(manifest)["out"] == 64


def persisted_keys(cache_dir: Path) -> set[str]:
    keys = set()
    for path in cache_dir.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                keys.add(json.loads(line)["key"])
            except ValueError:
                pass
    return keys


def test_sigkilled_driver_then_rerun_pays_only_for_unpersisted_answers(tmp_path, ray_session):
    instructions = [f"Driver kill question {i}" for i in range(160)]
    concurrency, flush_s, latency = 8, 0.5, 0.2
    with FakeOpenAI(latency_s=latency, expected_key=CANARY_KEY) as server:
        endpoint = endpoint_settings(server, concurrency_per_actor=concurrency, cache_flush_s=flush_s,
                                     cache_uri=str(tmp_path / "cache"))
        raw = config(tmp_path, write_input(tmp_path / "in.jsonl", instructions), endpoint)
        (tmp_path / "gen.json").write_text(json.dumps(raw))
        import yaml
        (tmp_path / "gen.yaml").write_text(yaml.safe_dump(raw))
        env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_JOB_ID": ""}
        driver = subprocess.Popen(
            [sys.executable, "-m", "pipelines", "run", str(tmp_path / "gen.yaml"),
             "--address", ray_session.get_runtime_context().gcs_address],
            cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while server.total < 40 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.05)
        assert driver.poll() is None, "the driver ended before it could be killed"
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        settled = server.total
        while True:  # until the job's actors are gone and the server hears nothing more
            time.sleep(1.5)
            if server.total == settled:
                break
            settled = server.total
        before = dict(server.counts)
        persisted = persisted_keys(tmp_path / "cache")
        assert 0 < len(persisted) < len(instructions)

        manifest = run(raw)
        check_balance(manifest, len(instructions), tmp_path / "out")
        rows = published_rows(tmp_path / "out")
        assert len(rows) == len(instructions) == len({r["id"] for r in rows})
        repaid = 0
        for prompt, n_before in before.items():
            key = cache_key("gpt-4", [{"role": "user", "content": prompt}], PARAMS)
            if key in persisted:
                assert server.counts[prompt] == n_before, "a persisted answer was paid for again"
            else:
                repaid += server.counts[prompt] - n_before
        # Bound: answers in flight at the kill plus those received in the last flush interval.
        bound = 1 * concurrency * (1 + flush_s / latency)
        assert repaid <= bound
        assert all(build_messages(i)[0]["content"] in server.counts for i in instructions)
