"""Fixtures for LLM stages: the fake OpenAI server and endpoint settings pointing at it.

The canary key is put in the environment at import time, before any Ray worker starts, so that
actors inherit it exactly as they would inherit a real OPENAI_API_KEY.
"""
from __future__ import annotations

import os
import secrets

import pytest

from tests.support.openai_server import FakeOpenAI

CANARY_KEY_ENV = "INSTRUCTPIPE_TEST_OPENAI_KEY"
# Made fresh per test session (subprocesses inherit it through the environment); never a stored secret.
CANARY_KEY = os.environ.setdefault(CANARY_KEY_ENV, "canary-" + secrets.token_hex(16))


def endpoint_settings(server: FakeOpenAI, **overrides) -> dict:
    """An `endpoint:` section for the fake server: fast retries, short timeouts."""
    settings = {"base_url": server.url, "model": "gpt-4", "api_key_env": CANARY_KEY_ENV,
                "timeout_s": 2.0, "max_retries": 2, "backoff_base_s": 0.05, "backoff_max_s": 0.5,
                "concurrency_per_actor": 16, "num_actors": 1, "cache_uri": "none",
                "limiter": "local"}
    settings.update(overrides)
    return settings


@pytest.fixture
def fake_openai():
    with FakeOpenAI(latency_s=0.01, expected_key=CANARY_KEY) as server:
        yield server
