"""Shared fixtures: one local Ray and one moto S3 server per test session, real data paths."""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data"
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pytest_sessionfinish(session, exitstatus):
    """With INSTRUCTPIPE_MAX_SKIPS set (CI), more skipped tests than that fail the run."""
    limit = os.environ.get("INSTRUCTPIPE_MAX_SKIPS")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if limit is None or reporter is None:
        return
    skipped = len(reporter.stats.get("skipped", []))
    if skipped > int(limit):
        reporter.write_line(f"FAILED: {skipped} tests skipped, INSTRUCTPIPE_MAX_SKIPS={limit} (their reasons: short test summary)", red=True)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.exists():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def s3_server():
    """moto in server mode on 127.0.0.1; the AWS variables point every client (and Ray worker) at it."""
    from moto.server import ThreadedMotoServer
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def ray_session(s3_server):
    """A local Ray for the whole session (started after S3 so workers inherit its variables)."""
    import ray
    if not ray.is_initialized():
        pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": pythonpath}})
    yield ray
    ray.shutdown()


@pytest.fixture
def s3_bucket(s3_server):
    import uuid
    import boto3
    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return name


# --- LLM stages (issue 5): the fake OpenAI server fixture; the import also puts the canary API key in
# the environment before `ray_session` starts Ray, so that actors inherit it like a real key.
from tests.support.llm_fixtures import fake_openai  # noqa: E402,F401
