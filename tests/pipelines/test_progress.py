"""Progress of a real LLM run through the CLI: compact lines without a terminal, the live table on a
pseudo-terminal (`script`), and in both the final summary table."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from pipelines.progress import eta
from pipelines.progress_view import compact_lines
from tests.pipelines.cli_helpers import cli
from tests.support.openai_server import FakeOpenAI

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "pipelines" / "seeds" / "curate_sample.jsonl"


def run_args(server: FakeOpenAI, out: Path, *extra: str) -> list[str]:
    return ["run", "configs/gpt4_alpaca_en.yaml", "--input", str(SAMPLE), "--output", str(out),
            "--set", f"endpoint.base_url={server.url}", "endpoint.num_actors=1", "endpoint.rpm=null",
            "endpoint.tpm=null", "endpoint.concurrency_per_actor=2", "ray.batch_rows=4", *extra]


def test_without_a_terminal_progress_is_compact_lines_with_eta_and_cost(tmp_path):
    with FakeOpenAI(latency_s=0.3) as server:
        code, _, out, err = cli(*run_args(server, tmp_path / "lines", "--progress-interval", "1"),
                                env={"OPENAI_API_KEY": ""})
    assert code == 0, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("progress")]
    run_lines = [line for line in lines if " eta=" in line]
    assert len(run_lines) >= 2, err[-3000:]  # at least one while running and the final one
    final = [line for line in run_lines if line.startswith("progress-final")][-1]
    fields = dict(part.split("=", 1) for part in final.split()[1:])
    assert fields["eta"] == "0s" and fields["budget_usd"] == "100"
    assert float(fields["cost_usd"]) > 0 and int(fields["llm_requests"]) > 0 and int(fields["tokens"]) > 0
    while_running = [dict(p.split("=", 1) for p in line.split()[1:]) for line in run_lines if line.startswith("progress ")]
    assert any(int(f["in_flight"]) > 0 for f in while_running), run_lines  # 0.3 s answers: some were in flight
    stages = [line for line in lines if line.startswith("progress-final") and " stage=" in line]
    assert [re.search(r"stage=(\S+)", s).group(1) for s in stages][:3] == ["read", "normalize", "generate_response"]
    assert re.search(r"^stage\s+in\s+out\s+rejected\s+reasons$", out, re.M)  # the final table still prints


def test_on_a_pseudo_terminal_the_live_table_shows_eta_and_cost(tmp_path):
    with FakeOpenAI(latency_s=0.3) as server:
        command = [sys.executable, "-m", "pipelines", *run_args(server, tmp_path / "live")]
        env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": "", "OPENAI_API_KEY": "",
               "COLUMNS": "160", "TERM": "xterm"}
        done = subprocess.run(["script", "-qefc", shlex.join(command), "/dev/null"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stdout)  # terminal control sequences
    assert done.returncode == 0, screen[-3000:]
    assert re.search(r"ETA \S+ \(bound by \S+\)", screen), screen[-3000:]
    assert re.search(r"cost \$\d+\.\d{4} of \$100", screen) and "top reject reasons" in screen
    assert re.search(r"cost \$0\.\d*[1-9]", screen)  # the spend shows up while or after answering
    assert re.search(r"^stage\s+in\s+out\s+rejected\s+reasons\s*$", screen, re.M)  # the final table
    assert "published " in screen and "progress t=" not in screen


def test_eta_is_bounded_by_the_stage_with_most_work_left_per_row_per_second():
    stages = [{"name": "read", "in": 100, "out": 100, "rejected": 0, "reasons": {}},
              {"name": "filter", "in": 100, "out": 90, "rejected": 10, "reasons": {"short": 10}},
              {"name": "generate", "in": 30, "out": 20, "rejected": 0, "reasons": {}}]
    assert eta(stages, {"filter": 50.0, "generate": 2.0}) == {"stage": "generate", "seconds": 30.0}
    assert eta(stages, {"filter": 50.0, "generate": 0.0}) == {"stage": "generate", "seconds": None}
    line = compact_lines({"t": 3.0, "stages": stages, "rates": {"generate": 2.0},
                          "llm": {"requests": 20, "in_flight": 4, "tokens": 900, "spent_usd": 0.25},
                          "eta": {"stage": "generate", "seconds": 30.0}}, {"max_cost_usd": 5})[-1]
    assert line == ("progress t=3s eta=30s bound_by=generate llm_requests=20 in_flight=4 tokens=900 "
                    "cost_usd=0.2500 budget_usd=5")
