"""cluster.yaml passes Ray's own cluster-config validation (offline)."""
from pathlib import Path

import pytest
import yaml

CLUSTER = Path(__file__).resolve().parents[1] / "cluster.yaml"


def load():
    return yaml.safe_load(CLUSTER.read_text())


def validate(config):
    from ray.autoscaler._private.util import prepare_config, validate_config
    validate_config(prepare_config(config))


def test_cluster_yaml_is_valid():
    validate(load())


def test_validator_catches_mistakes():
    config = load()
    config["head_node_type"] = "no_such_type"
    with pytest.raises(Exception):
        validate(config)


def test_setup_installs_the_project_and_holds_no_secrets():
    text = CLUSTER.read_text()
    assert any("pip install" in cmd and "instructpipe" in cmd for cmd in load()["setup_commands"])
    assert "AWS_SECRET_ACCESS_KEY:" not in text and "aws_secret" not in text.lower()
