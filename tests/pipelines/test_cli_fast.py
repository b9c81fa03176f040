"""Commands that need no cluster import no Ray, and every check that can be made comes before work."""
import json
import os
import subprocess
import sys

import pytest

from tests.pipelines.cli_helpers import REPO, cli

KEY = {"OPENAI_API_KEY": "sk-test-not-a-key"}


def test_help_validate_and_inspect_import_no_ray(tmp_path):
    for args in (["--help"], ["validate", "configs/curate.yaml"], ["validate", "configs/gpt4_llm.yaml"]):
        code, ray_imported, out, err = cli(*args, env=KEY)
        assert code == 0, err
        assert not ray_imported, args
    code, ray_imported, _, err = cli("inspect", str(tmp_path / "missing"))
    assert code == 2 and not ray_imported
    assert "no _manifest.json" in err


HEAVY = ("ray", "openai", "aiohttp", "numba", "scipy", "pandas")
_VALIDATE_ALL = """
import contextlib, io, json, sys
from pipelines.__main__ import main
results = {}
for config in sys.argv[1:]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        results[config] = [main(["validate", config]), err.getvalue()]
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(os.environ["HEAVY"])))
print(json.dumps({"results": results, "heavy": heavy}))
"""


def test_every_shipped_config_validates_without_engine_sdk_or_kernels():
    """`validate` loads each operator's config, not what the operators run on (the < 2 s budget);
    a config that reads no data of its own says so and asks for --input."""
    configs = sorted(str(p.relative_to(REPO)) for p in (REPO / "configs").glob("*.yaml"))
    done = subprocess.run([sys.executable, "-c", "import os" + _VALIDATE_ALL, *configs], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **KEY, "PYTHONPATH": str(REPO), "HEAVY": json.dumps(HEAVY)})
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    for config, (code, err) in report["results"].items():
        assert code == 0 or (code == 2 and "give it with --input" in err), f"{config}: {err}"


def test_inspect_of_a_release_imports_no_ray(tmp_path):
    manifest = {"name": "n", "run_id": "r", "config_hash": "c" * 64, "counts": {"input": 1, "output": 1, "rejected": 0},
                "stages": [{"name": "read", "in": 1, "out": 1, "rejected": 0, "reasons": {}}],
                "shards": [], "rejects": []}
    (tmp_path / "_manifest.json").write_text(json.dumps(manifest))
    code, ray_imported, out, err = cli("inspect", str(tmp_path))
    assert code == 0, err
    assert not ray_imported and "read" in out


def test_a_config_without_data_asks_for_input_in_one_line():
    for command in ("validate", "run"):
        code, ray_imported, _, err = cli(command, "configs/curate_zh.yaml")
        assert code == 2 and not ray_imported
        assert len(err.strip().splitlines()) == 1 and "--input URI" in err


@pytest.mark.parametrize("command", ["validate", "run"])
def test_model_without_price_under_a_budget_says_what_to_change(command, tmp_path):
    code, ray_imported, _, err = cli(command, "configs/gpt4_alpaca_en.yaml", "--output", str(tmp_path / "o"),
                                     "--set", "endpoint.base_url=http://127.0.0.1:9/v1", "endpoint.model=my-model",
                                     env=KEY)
    assert code == 2 and not ray_imported
    assert "endpoint.prices.my-model" in err and "--set endpoint.max_cost_usd=null" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_missing_api_key_names_the_variable(tmp_path):
    code, ray_imported, _, err = cli("run", "configs/gpt4_alpaca_en.yaml", "--output", str(tmp_path / "o"),
                                     env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""})
    assert code == 2 and not ray_imported
    assert "OPENAI_API_KEY" in err and "sk-" not in err


def test_missing_input_is_reported_before_the_embedded_server_or_ray(tmp_path):
    code, ray_imported, _, err = cli("run", "configs/quickstart.yaml", "--input", str(tmp_path / "nope.jsonl"),
                                     "--output", str(tmp_path / "o"))
    assert code == 2 and not ray_imported
    assert "nope.jsonl" in err and "llama" not in err.lower()


def test_unwritable_output_is_refused_before_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, ray_imported, _, err = cli("validate", "configs/curate.yaml", "--output", str(blocker / "out"))
    assert code == 2 and not ray_imported
    assert "is not writable" in err and "--output" in err


def test_fields_must_follow_an_input():
    code, ray_imported, _, err = cli("validate", "configs/curate.yaml", "--fields", "instruction=q")
    assert code == 2 and not ray_imported and "--input" in err
    code, _, _, err = cli("validate", "configs/curate.yaml", "--input", str(REPO / "configs"), "--fields", "q")
    assert code == 2 and "FIELD=SOURCE" in err


def test_refresh_of_a_bootstrapping_source_config_is_refused_before_work(tmp_path):
    code, _, out, err = cli("refresh", "configs/self_instruct.yaml", "--output", str(tmp_path / "root"), env=KEY)
    assert code == 2, err[-2000:]
    assert "configs/self_instruct.yaml" in err and "`source:`" in err and "instructpipe run" in err
    assert not (tmp_path / "root").exists()  # no lock, no release folder, nothing written
