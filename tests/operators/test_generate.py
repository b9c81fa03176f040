"""generate_response against the fake OpenAI server over real HTTP (no Ray: a process-local limiter)."""
import json
import logging

import pytest

from operators.base import StageContext, run_operator
from operators.generate import GenerateConfig, GenerateResponse
from operators.llm.client import EndpointUnreachable
from operators.llm.endpoint import ConfigurationError
from operators.schema import make_record, records_to_table
from tests.support.llm_fixtures import CANARY_KEY, CANARY_KEY_ENV, endpoint_settings
from tests.support.openai_server import FakeOpenAI, deterministic_answer

STAGE = "generate_response"


def make_op(endpoint: dict, config: GenerateConfig = GenerateConfig(), output_uri=None) -> GenerateResponse:
    settings = {"endpoint": endpoint, "output_uri": output_uri}
    return GenerateResponse(config, StageContext(STAGE, "test-run", settings))


def table(instructions, inputs=None):
    inputs = inputs or [""] * len(instructions)
    return records_to_table(make_record(ins, inp, "", "en", f"src:{i}") for i, (ins, inp)
                            in enumerate(zip(instructions, inputs)))


def rows_by_instruction(out):
    return {r["instruction"]: r for r in out.to_pylist()}


def test_answers_go_to_output_with_meta(fake_openai):
    op = make_op(endpoint_settings(fake_openai))
    out, count = run_operator(op, table(["Give three tips.", "Translate this.", "   "], ["", "Bonjour", ""]))
    assert count.to_dict() == {"in": 3, "out": 2, "rejected": 1, "reasons": {"empty_instruction": 1}}
    rows = rows_by_instruction(out)
    tips = rows["Give three tips."]
    assert tips["reason"] is None
    messages = [{"role": "user", "content": next(p for p in fake_openai.counts if "Give three tips." in p)}]
    assert tips["output"] == deterministic_answer(messages, {})
    meta = json.loads(tips["meta"])["llm"][STAGE]
    assert meta["model"] == "gpt-4" and meta["finish_reason"] == "stop" and meta["attempts"] == 1
    assert meta["usage"]["total_tokens"] == meta["usage"]["prompt_tokens"] + meta["usage"]["completion_tokens"] > 0
    assert meta["cost_usd"] > 0 and meta["latency_s"] > 0 and meta["cached"] is False
    assert any("### Input:\nBonjour" in p for p in fake_openai.counts)
    assert fake_openai.total == 2  # the blank instruction never reached the API


# fault -> reason when the fault never clears (None: the row is kept)
ALWAYS = {"429": "retries_exhausted:429", "500": "retries_exhausted:500", "503": "retries_exhausted:503",
          "400": "api_error:400", "context": "prompt_too_long", "reset": "retries_exhausted:connection",
          "hang": "retries_exhausted:timeout", "malformed": "retries_exhausted:malformed",
          "empty": "retries_exhausted:empty_response", "length": "truncated", "content_filter": "content_filter"}
RETRIED = {"429", "500", "503", "reset", "hang", "malformed", "empty"}


@pytest.fixture(scope="module")
def faulty_server():
    with FakeOpenAI(latency_s=0.01, retry_after_s=0.2, hang_s=3.0, expected_key=CANARY_KEY) as server:
        yield server


TRANSPORTS = pytest.mark.parametrize("transport", ["direct", "sdk"])


@TRANSPORTS
@pytest.mark.parametrize("fault", sorted(ALWAYS))
def test_fault_matrix(faulty_server, fault, transport):
    settings = endpoint_settings(faulty_server, timeout_s=1.0,  # slack for a clean answer on a loaded machine
                                  max_retries=2, transport=transport)
    op = make_op(settings)
    always, once, clean = (f"Q {transport} always [[fault:{fault}]]", f"Q {transport} once [[fault:{fault}x1]]",
                           f"Q {transport} clean {fault}")
    out, count = run_operator(op, table([always, once, clean]))
    rows = rows_by_instruction(out)
    assert count.rows_in == 3 == count.rows_out + count.rejected
    assert rows[always]["reason"] == ALWAYS[fault]
    assert rows[clean]["reason"] is None
    once_meta = json.loads(rows[once]["meta"])["llm"][STAGE]
    if fault in RETRIED:
        assert rows[once]["reason"] is None and once_meta["attempts"] == 2
        assert json.loads(rows[always]["detail"])["attempts"] == 3
    else:
        assert rows[once]["reason"] == ALWAYS[fault] and once_meta["attempts"] == 1
    for text in (always, once, clean):
        assert 1 <= faulty_server.requests_for(text) <= 1 + settings["max_retries"]


def test_retry_after_is_honoured_and_cools_down_everyone():
    with FakeOpenAI(retry_after_s=1.0) as server:
        op = make_op(endpoint_settings(server, backoff_base_s=0.01))
        out, _ = run_operator(op, table(["R [[fault:429x1]]"]))
        first, second = server.times[next(iter(server.times))]
        assert out.column("reason").to_pylist() == [None]
        assert second - first >= 1.0
        server.reset_counts()
        out, _ = run_operator(op, table(["S [[fault:429x1]]", "T [[fault:429x1]]"] + [f"U{i}" for i in range(6)]))
        assert set(out.column("reason").to_pylist()) == {None}
        # The second attempts of both 429'd prompts waited for the shared cool-down.
        starts = min(min(t) for t in server.times.values())
        for prompt, times in server.times.items():
            if "fault:429" in prompt:
                assert times[1] - starts >= 1.0


def test_rate_faults_leave_every_row_accounted():
    with FakeOpenAI(fault_rates={"503": 0.15, "429": 0.05, "reset": 0.05, "malformed": 0.05, "empty": 0.05},
                    retry_after_s=0.05, seed=3) as server:
        op = make_op(endpoint_settings(server, max_retries=3))
        instructions = [f"Rate fault question {i}" for i in range(80)]
        out, count = run_operator(op, table(instructions))
        assert count.rows_in == 80 == count.rows_out + count.rejected
        assert sorted(out.column("instruction").to_pylist()) == sorted(instructions)
        assert sum(server.faults_sent.values()) > 10
        assert max(server.counts.values()) <= 4
        for reason in out.column("reason").to_pylist():
            assert reason is None or reason.startswith("retries_exhausted:")


def test_second_run_is_free_even_on_another_url(fake_openai, tmp_path):
    cache = str(tmp_path / "cache")
    instructions = [f"Cached question {i}" for i in range(20)]
    first, _ = run_operator(make_op(endpoint_settings(fake_openai, cache_uri=cache)), table(instructions))
    assert fake_openai.total == 20
    with FakeOpenAI() as other:  # same request, other host, no key check: still a hit
        again, count = run_operator(make_op(endpoint_settings(other, cache_uri=cache)), table(instructions))
        assert other.total == 0
    assert count.rejected == 0
    assert again.column("output").to_pylist() == first.column("output").to_pylist()
    assert all(json.loads(m)["llm"][STAGE]["cached"] for m in again.column("meta").to_pylist())
    # Changing a sampling parameter is a different request.
    run_operator(make_op(endpoint_settings(fake_openai, cache_uri=cache), GenerateConfig(temperature=0.5)),
                 table(instructions[:3]))
    assert fake_openai.total == 23


def test_identical_prompts_in_flight_share_one_request(fake_openai):
    op = make_op(endpoint_settings(fake_openai))
    out, count = run_operator(op, table(["Same question"] * 5 + ["Other"]))
    assert count.rows_out == 6 and fake_openai.requests_for("Same question") == 1
    assert len(set(out.column("output").to_pylist()[:5])) == 1


def test_budget_stops_paying_and_rerun_resumes(fake_openai, tmp_path):
    cache = str(tmp_path / "cache")
    instructions = [f"Budget question {i}" for i in range(12)]
    capped = endpoint_settings(fake_openai, cache_uri=cache, max_requests=5, concurrency_per_actor=2)
    out, count = run_operator(make_op(capped), table(instructions))
    assert count.rows_out == 5 and count.reasons == {"budget_exhausted": 7}
    assert fake_openai.total == 5
    out, count = run_operator(make_op(endpoint_settings(fake_openai, cache_uri=cache)), table(instructions))
    assert count.rows_out == 12 and fake_openai.total == 12  # only the 7 unanswered were paid for


def test_cost_cap_needs_a_price_and_holds(fake_openai):
    with pytest.raises(ConfigurationError, match="no price"):
        make_op(endpoint_settings(fake_openai, model="my-model", max_cost_usd=1.0))
    priced = endpoint_settings(fake_openai, model="my-model", max_cost_usd=0.01, concurrency_per_actor=1,
                               prices={"my-model": {"prompt_usd_per_1m": 10.0, "completion_usd_per_1m": 10.0}})
    out, count = run_operator(make_op(priced, GenerateConfig(max_tokens=100)), table([f"C{i}" for i in range(40)]))
    spent = sum(json.loads(m)["llm"][STAGE]["cost_usd"] for m in out.column("meta").to_pylist())
    assert 0 < spent <= 0.01 and count.reasons.get("budget_exhausted", 0) > 0


def test_prompt_over_the_context_limit_is_not_paid(fake_openai):
    op = make_op(endpoint_settings(fake_openai, context_tokens=600), GenerateConfig(max_tokens=512))
    out, _ = run_operator(op, table(["short", "long " * 200]))
    assert out.column("reason").to_pylist() == [None, "prompt_too_long"]
    assert fake_openai.total == 1


def test_missing_key_for_a_remote_endpoint_fails_before_work(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    remote = {"base_url": "https://api.example.com/v1", "api_key_env": "NO_SUCH_KEY_VAR"}
    with pytest.raises(ConfigurationError, match="NO_SUCH_KEY_VAR"):
        GenerateResponse.preflight({"endpoint": remote})
    with pytest.raises(ConfigurationError, match="NO_SUCH_KEY_VAR"):
        make_op(remote)
    with FakeOpenAI() as server:  # a local server needs no key
        out, _ = run_operator(make_op(endpoint_settings(server, api_key_env="NO_SUCH_KEY_VAR")), table(["x"]))
        assert out.column("reason").to_pylist() == [None]


@TRANSPORTS
def test_wrong_base_url_fails_clearly_after_bounded_attempts(transport):
    with FakeOpenAI() as server:
        dead = server.url
    settings = endpoint_settings(server, base_url=dead, connect_attempts=2, transport=transport)
    with pytest.raises(EndpointUnreachable, match="after 2 attempts"):
        GenerateResponse.preflight({"endpoint": settings})
    op = make_op(settings)
    with pytest.raises(EndpointUnreachable, match=r"127\.0\.0\.1:\d+/v1 after 2 attempts"):
        op(table(["a", "b", "c"]))


@TRANSPORTS
def test_secret_canary(caplog, tmp_path, transport):
    """DEBUG logs, failures of every kind and a refused key: the key appears nowhere."""
    caplog.set_level(logging.DEBUG)
    texts = []
    with FakeOpenAI(expected_key=CANARY_KEY, retry_after_s=0.01) as server:
        op = make_op(endpoint_settings(server, cache_uri=str(tmp_path / "cache"), transport=transport))
        texts += [repr(op.service), repr(op.service.client), repr(op.endpoint), str(op.endpoint.model_dump())]
        faults = ["429", "503", "400", "reset", "malformed", "context", "content_filter"]
        out, _ = run_operator(op, table([f"K [[fault:{f}]]" for f in faults] + ["fine"]))
        texts += [json.dumps(out.to_pylist())]
    with FakeOpenAI(expected_key="sk-some-other-key") as server:  # the server refuses our key
        with pytest.raises(ConfigurationError) as refused:
            make_op(endpoint_settings(server, transport=transport))(table(["x"]))
        texts += [str(refused.value), repr(refused.value)]
        assert CANARY_KEY_ENV in str(refused.value)
    with pytest.raises(EndpointUnreachable) as unreachable:
        make_op(endpoint_settings(server, connect_attempts=1, transport=transport))(table(["y"]))
    texts += [str(unreachable.value)]
    for path in (tmp_path / "cache").iterdir():
        texts.append(path.read_text())
    texts.append(caplog.text)
    assert "DEBUG" in caplog.text  # the client really logged at DEBUG
    for text in texts:
        assert CANARY_KEY not in text and CANARY_KEY[-12:] not in text
