"""Bad rows go to rejects with file:line; bad files, outputs and configs fail with exit 2 naming them."""
import gzip
import json
import time

import pytest

from pipelines.config import ConfigError, read_yaml
from tests.pipelines.helpers import published_rows, run
from tests.pipelines.release_check import run_cli, tmpfs, write_config, write_rows


@pytest.mark.usefixtures("ray_session")
def test_deep_nesting_lone_surrogates_and_a_bom_do_not_crash_the_run(tmp_path):
    src = tmp_path / "bad.jsonl"
    deep = '{"instruction": "deep", "x": ' + "[" * 10000 + "]" * 10000 + "}"
    lines = ['{"instruction": "first row after the BOM"}', deep, '{"instruction": "lone \\ud800 surrogate"}',
             '{"instruction": "fine", "output": "\\udfff"}', '{"instruction": "last good row"}']
    src.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    manifest = run({"name": "bad", "inputs": [{"uri": str(src)}], "output": {"uri": str(tmp_path / "out")},
                    "stages": ["normalize"]})
    kept = [r["instruction"] for r in published_rows(tmp_path / "out")]
    assert kept == ["first row after the BOM", "last good row"]
    rejects = {r["source"]: r for r in published_rows(tmp_path / "out", "rejects")}
    assert {s: r["reason"] for s, r in rejects.items()} == {
        f"{src}:2": "json_too_deep", f"{src}:3": "invalid_unicode", f"{src}:4": "invalid_unicode"}
    assert "\\ud800" in json.loads(rejects[f"{src}:3"]["detail"])["raw"]
    assert manifest["counts"] == {"input": 5, "output": 2, "rejected": 3}


def test_truncated_gzip_exits_2_naming_the_file(tmp_path):
    rows = "".join(json.dumps({"instruction": f"row {i} " + "x" * 50}) + "\n" for i in range(5000))
    whole = gzip.compress(rows.encode(), mtime=0)
    src = tmp_path / "cut.jsonl.gz"
    src.write_bytes(whole[: len(whole) // 2])
    config = write_config(tmp_path / "c.yaml", str(src), str(tmp_path / "out"))
    rc, _, err = run_cli("run", str(config))
    assert rc == 2, err[-1500:]
    assert f"{src}: truncated compressed file" in err and "UserCodeException" not in err
    assert not (tmp_path / "out" / "_manifest.json").exists()


def test_every_row_rejected_at_read_fails_without_publishing(tmp_path):
    src = tmp_path / "mapped.jsonl"
    src.write_text("".join(json.dumps({"prompt_text": f"q{i}"}) + "\n" for i in range(10)))
    config = write_config(tmp_path / "c.yaml", str(src), str(tmp_path / "out"))
    rc, _, err = run_cli("run", str(config))
    assert rc == 2, err[-1500:]
    assert "all 10 input rows were rejected at read (missing_field:instruction=10)" in err
    assert f"{src}:1" in err
    assert not (tmp_path / "out" / "_manifest.json").exists()


def test_output_that_is_a_file_fails_before_any_work(tmp_path):
    (tmp_path / "taken").write_text("not a directory")
    config = write_config(tmp_path / "c.yaml", str(write_rows(tmp_path / "in.jsonl", "A")),
                          str(tmp_path / "taken" / "out"))
    rc, _, err = run_cli("run", str(config))
    assert rc == 2 and f"output {tmp_path / 'taken' / 'out'} is not writable" in err, err[-1500:]
    assert "ray" not in err.lower()  # refused before Ray started


@pytest.fixture
def read_only_dir(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m", "cannot mount a read-only tmpfs here; as root a chmod is ignored") as target:
        yield target


def test_read_only_output_fails_before_any_work(tmp_path, read_only_dir):
    config = write_config(tmp_path / "c.yaml", str(write_rows(tmp_path / "in.jsonl", "A")),
                          str(read_only_dir / "out"))
    rc, _, err = run_cli("run", str(config))
    assert rc == 2 and "is not writable: Read-only file system" in err, err[-1500:]


def test_credentials_in_the_endpoint_url_are_refused_and_never_echoed(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"name": "c", "inputs": [{"uri": "x.jsonl"}], "output": {"uri": "out"},
                                  "stages": ["normalize"]}))
    rc, out, err = run_cli("validate", str(config), "--set", "endpoint.base_url=http://user:S3CRETPASS@127.0.0.1:9/v1")
    assert rc == 2 and "endpoint.base_url" in err and "must not contain credentials" in err, err
    assert "S3CRETPASS" not in out + err


def test_recorded_config_has_no_url_credentials_or_keys():
    from pipelines.redact import redact_config
    raw = {"inputs": [{"uri": "https://me:PW1@host/data.jsonl?token=T0K&x=1"}],
           "endpoint": {"api_key_env": "OPENAI_API_KEY", "api_key": "sk-LEAK", "max_tokens": 9},
           "extra": {"password": "${DB_PASSWORD}"}}
    text = json.dumps(redact_config(raw))
    assert not any(secret in text for secret in ("PW1", "T0K", "sk-LEAK"))
    assert "OPENAI_API_KEY" in text and "${DB_PASSWORD}" in text and '"max_tokens": 9' in text


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines + ["name: bomb"]) + "\n")
    started = time.process_time()
    with pytest.raises(ConfigError, match="expands to more than"):
        read_yaml(str(bomb))
    print(f"alias bomb refused after {time.process_time() - started:.3f} s of CPU")
    rc, _, err = run_cli("validate", str(bomb))
    assert rc == 2 and "expands to more than" in err, err[-1500:]


def test_oversized_config_is_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: big\npad: '" + "x" * (2 << 20) + "'\n")
    with pytest.raises(ConfigError, match="larger than"):
        read_yaml(str(big))
