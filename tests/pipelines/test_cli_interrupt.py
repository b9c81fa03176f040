"""Ctrl-C during a run: one line saying what was kept, no traceback, nothing published."""
import os
import signal
import subprocess
import sys
import textwrap

from tests.pipelines.cli_helpers import REPO

DRIVER = textwrap.dedent("""
    import signal, sys
    # Ctrl-C as at a terminal: a runner started without job control hands its children SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from pipelines.__main__ import main
    sys.exit(main(sys.argv[1:]))
""")


def test_ctrl_c_prints_one_line_and_publishes_nothing(tmp_path):
    out = tmp_path / "out"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, "run", "configs/curate.yaml", "--output", str(out),
                               "--set", "ray.batch_rows=2"], cwd=REPO, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": ""})
    try:
        before = []
        for line in driver.stderr:  # Ray Data logs the plan when execution starts
            before.append(line)
            if "Executing" in line or "Starting execution" in line:
                break
        assert driver.poll() is None, "".join(before)[-3000:]
        driver.send_signal(signal.SIGINT)
        after = driver.stderr.read()
        code = driver.wait(120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert code == 130, after[-3000:]
    assert "Traceback" not in after
    assert [line for line in after.splitlines() if line.startswith("interrupted:")]
    assert not (out / "_manifest.json").exists()
