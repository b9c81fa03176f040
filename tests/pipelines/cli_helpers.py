"""Run the real CLI in a fresh interpreter and learn whether it imported Ray."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_PROBE = """
import json, sys
from pipelines.__main__ import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as done:
    code = done.code
print("PROBE " + json.dumps({"code": code, "ray": any(m == "ray" or m.startswith("ray.") for m in sys.modules)}))
"""


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> tuple[int, bool, str, str]:
    """(exit code, whether Ray was imported, stdout without the probe line, stderr)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": "", **(env or {})}
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args))], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    lines = done.stdout.splitlines()
    probe = [line for line in lines if line.startswith("PROBE ")]
    assert probe, f"the CLI died: {done.stderr[-3000:]}"
    result = json.loads(probe[-1][len("PROBE "):])
    out = "\n".join(line for line in lines if not line.startswith("PROBE "))
    return result["code"], result["ray"], out, done.stderr
