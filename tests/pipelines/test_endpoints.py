"""Several endpoints in one config: `endpoints:` beside `endpoint:`, `--set endpoints.*.key`, references."""
import pytest

from pipelines.config import ConfigError, load_config
from tests.pipelines.cli_helpers import cli

CONFIG = """
name: t
inputs: [{uri: in.jsonl}]
output: {uri: out}
endpoint: {model: gpt-4o-mini, api_key_env: K}
endpoints:
  gpt4: {model: gpt-4, api_key_env: K, rpm: 100}
  small: {model: gpt-4o-mini, api_key_env: K}
stages:
  - generate_response: {endpoint: gpt4}
  - generate_response: {}
"""


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return str(path)


def test_named_endpoints_beside_the_default(tmp_path):
    cfg, _ = load_config(write(tmp_path, CONFIG))
    assert cfg.endpoint.model == "gpt-4o-mini"
    assert {n: e.model for n, e in cfg.endpoints.items()} == {"gpt4": "gpt-4", "small": "gpt-4o-mini"}
    assert cfg.stages[0].config.endpoint == "gpt4" and cfg.stages[1].config.endpoint is None
    assert cfg.endpoints["gpt4"].rpm == 100 and cfg.endpoints["small"].rpm is None


def test_set_one_named_endpoint_and_all_of_them(tmp_path):
    path = write(tmp_path, CONFIG)
    cfg, _ = load_config(path, ["endpoints.small.rpm=7", "endpoints.*.base_url=http://127.0.0.1:9/v1"])
    assert cfg.endpoints["small"].rpm == 7 and cfg.endpoints["gpt4"].rpm == 100
    assert {e.base_url for e in cfg.endpoints.values()} == {"http://127.0.0.1:9/v1"}
    assert cfg.endpoint.base_url is None  # `*` is the named ones only
    with pytest.raises(ConfigError, match=r"'\*' matches no mapping entries"):
        load_config(write(tmp_path, CONFIG.replace("endpoints:\n  gpt4", "other:\n  gpt4")),
                    ["endpoints.*.rpm=1"])


def test_an_undefined_endpoint_is_named(tmp_path):
    path = write(tmp_path, CONFIG.replace("{endpoint: gpt4}", "{endpoint: gpt5}"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "stages.0.generate_response: endpoint 'gpt5' is not defined under `endpoints:`" in str(err.value)
    assert "defined: gpt4, small" in str(err.value)


def test_validate_exits_2_naming_the_endpoint(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"instruction": "x"}\n')
    path = write(tmp_path, CONFIG.replace("{endpoint: gpt4}", "{endpoint: judge}")
                 .replace("in.jsonl", str(tmp_path / "in.jsonl")).replace("uri: out", f"uri: {tmp_path / 'o'}"))
    code, ray_imported, _, err = cli("validate", path, env={"K": "sk-x"})
    assert code == 2 and not ray_imported
    assert "endpoint 'judge' is not defined" in err


def test_a_named_endpoint_needs_its_own_key_and_price(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"instruction": "x"}\n')
    text = (CONFIG.replace("in.jsonl", str(tmp_path / "in.jsonl")).replace("uri: out", f"uri: {tmp_path / 'o'}")
            .replace("gpt4: {model: gpt-4, api_key_env: K", "gpt4: {model: mine, api_key_env: K, max_cost_usd: 1"))
    code, _, _, err = cli("validate", write(tmp_path, text), env={"K": "sk-x"})
    assert code == 2 and "endpoints.gpt4.max_cost_usd is 1 but no price is known for model 'mine'" in err
    code, _, _, err = cli("validate", write(tmp_path, text.replace("api_key_env: K, max", "api_key_env: K2, max")),
                          env={"K": "sk-x"})
    assert code == 2 and "K2" in err
