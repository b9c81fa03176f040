import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.config import ConfigError, config_hash, load_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return str(path)


BASE = """
name: t
inputs: [{uri: in.jsonl}]
output: {uri: out}
stages:
  - normalize: {form: NFKC}
"""


def test_valid_config_and_overrides(tmp_path):
    path = write(tmp_path, BASE)
    cfg, raw = load_config(path, ["output.shard_rows=5", "stages.0.normalize.form=NFC"], ["a.jsonl", "b.jsonl"], "o2")
    assert cfg.output.shard_rows == 5 and cfg.output.uri == "o2"
    assert cfg.stages[0].config.form == "NFC"
    assert [i.uri for i in cfg.inputs] == ["a.jsonl", "b.jsonl"]
    assert config_hash(raw) != config_hash(load_config(path)[1])


def test_unknown_key_names_file_and_path(tmp_path):
    path = write(tmp_path, BASE.replace("form: NFKC", "form: NFKC, colour: red"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "c.yaml" in str(err.value) and "stages.0.normalize.colour" in str(err.value)


def test_wrong_type_and_unknown_operator(tmp_path):
    with pytest.raises(ConfigError, match=r"output.shard_rows"):
        load_config(write(tmp_path, BASE.replace("{uri: out}", "{uri: out, shard_rows: many}")))
    with pytest.raises(ConfigError, match=r"stages.0: unknown operator 'nope'"):
        load_config(write(tmp_path, BASE.replace("normalize: {form: NFKC}", "nope: {}")))


def test_endpoint_names_ending_in_batches_are_reserved(tmp_path):
    text = BASE + "endpoints:\n  judge_batches: {model: gpt-4}\n"
    with pytest.raises(ConfigError, match=r"may not end in '_batches'"):
        load_config(write(tmp_path, text))
    assert load_config(write(tmp_path, text.replace("judge_batches", "judge")))[0].endpoints["judge"].model == "gpt-4"


def test_env_interpolation_never_echoes_the_value(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_OUT", "s3cr3t-value")
    path = write(tmp_path, BASE.replace("{uri: out}", "{uri: '${SECRET_OUT}', shard_rows: '${SECRET_OUT}'}"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "s3cr3t-value" not in str(err.value) and "output.shard_rows" in str(err.value)
    monkeypatch.delenv("SECRET_OUT")
    with pytest.raises(ConfigError, match="SECRET_OUT is not set"):
        load_config(path)


def test_raw_config_keeps_placeholders(tmp_path, monkeypatch):
    monkeypatch.setenv("OUT_DIR", "/tmp/x")
    cfg, raw = load_config(write(tmp_path, BASE.replace("{uri: out}", "{uri: '${OUT_DIR}/o'}")))
    assert cfg.output.uri == "/tmp/x/o" and raw["output"]["uri"] == "${OUT_DIR}/o"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pipelines", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_cli_validate_exit_codes(tmp_path):
    ok = run_cli("validate", str(REPO / "configs" / "curate.yaml"))
    assert ok.returncode == 0, ok.stderr
    bad = run_cli("validate", write(tmp_path, BASE.replace("name: t", "name: t\nbogus: 1")))
    assert bad.returncode == 2 and "bogus" in bad.stderr


def test_cli_missing_input_names_the_path(tmp_path):
    result = run_cli("run", write(tmp_path, BASE), "--input", str(tmp_path / "missing.jsonl"),
                     "--output", str(tmp_path / "out"))
    assert result.returncode == 2 and "missing.jsonl" in result.stderr
    assert not (tmp_path / "out").exists()
