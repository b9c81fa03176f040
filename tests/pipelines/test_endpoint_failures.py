"""An endpoint that refuses the key or keeps failing, through the real CLI against the fake OpenAI
server: the project's own message and exit code, no publish over the previous release, a cache that
keeps what was answered, and a rerun that resumes."""
import json
from pathlib import Path

from tests.pipelines.release_check import release_state, run_cli
from tests.support.llm_fixtures import endpoint_settings
from tests.support.openai_server import FakeOpenAI

STAGE = "generate_response"


def write_config(tmp_path: Path, instructions: list[str], endpoint: dict) -> Path:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"instruction": i}) + "\n" for i in instructions))
    config = {"name": "llm", "lang": "en", "inputs": [{"uri": str(src)}],
              "output": {"uri": str(tmp_path / "out")}, "ray": {"batch_rows": 8},
              "endpoint": endpoint, "stages": [{STAGE: {}}]}
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(config))
    return path


def test_refused_key_is_a_configuration_error_with_exit_2(tmp_path):
    with FakeOpenAI(expected_key="the-right-key") as server:
        config = write_config(tmp_path, ["Say hi."], endpoint_settings(server))
        rc, _, err = run_cli("run", str(config))
    assert rc == 2, err[-2000:]
    assert f"endpoint {server.url} refused the API key (HTTP 401" in err
    assert "UserCodeException" not in err and "RayTaskError" not in err
    assert release_state(str(tmp_path / "out")) is None


def test_failing_endpoint_opens_the_breaker_keeps_answers_and_resumes(tmp_path):
    clean = [f"Clean question {i}?" for i in range(6)]
    broken = [f"Broken question {i}? [[fault:503]]" for i in range(20)]
    cache = tmp_path / "cache"
    with FakeOpenAI() as server:
        endpoint = endpoint_settings(server, concurrency_per_actor=1, max_retries=1, cache_uri=str(cache),
                                     breaker_consecutive=4)
        config = write_config(tmp_path, clean + broken, endpoint)
        out = str(tmp_path / "out")

        rc, _, err = run_cli("run", str(config))
        assert rc == 1, err[-2000:]
        assert "4 requests in a row failed after retries (last: retries_exhausted:503)" in err
        assert "nothing was published" in err and "rerun the same command" in err and str(cache) in err
        assert release_state(out) is None
        sent = sum(server.counts.values())
        assert sent < 6 + 2 * len(broken)  # it stopped sending
        answered = [q for q in clean if server.requests_for(q) == 1]  # before the breaker opened
        assert answered

        server.reset_counts()
        rc, _, err = run_cli("run", str(config), "--set", "endpoint.breaker_consecutive=1000")
        assert rc == 1 and "20 of 26 rows failed for infrastructure reasons" in err, err[-2000:]
        assert "max_infra_failure_share=0.5" in err and release_state(out) is None
        assert not any(server.requests_for(q) for q in answered)  # resumed from the cache

        rc, _, err = run_cli("run", str(config), "--set", "endpoint.breaker_consecutive=1000",
                             "endpoint.max_infra_failure_share=1.0")
        assert rc == 0, err[-2000:]
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["counts"] == {"input": 26, "output": 6, "rejected": 20}
