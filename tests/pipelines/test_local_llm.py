"""The managed local model server: start, readiness, port fallback, failures, and no orphan on any exit.

A stand-in server (tests/pipelines/fake_llama_server.py, real HTTP in a real subprocess) takes the place
of llama.cpp's so that these run in seconds; the quickstart e2e test runs the real one.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest

from operators.llm.endpoint import EndpointConfig
from pipelines import local_llm
from pipelines.local_llm import LocalLLMConfig, LocalServerError, ManagedServer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKE = "tests.pipelines.fake_llama_server"
ENV = {"PYTHONPATH": REPO}


def fake_command(*extra: str):
    return lambda port: [FAKE, "--port", str(port), "--model_alias", "fake-llama", *extra]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_dead(pid: int, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def use_fake(monkeypatch, *extra: str) -> None:
    monkeypatch.setattr(local_llm, "server_command", lambda cfg: (fake_command(*extra), ENV))


def test_starts_serves_and_stops_with_its_children(monkeypatch):
    use_fake(monkeypatch, "--child")
    with local_llm.managed_server(LocalLLMConfig()) as server:
        assert server.model == "fake-llama"
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert local_llm.served_model(server.base_url) == "fake-llama"
        pid = server.proc.pid
        child = int(server.log_tail().split("child pid ")[1].split()[0])
        assert alive(pid) and alive(child)
        log_dir = os.path.dirname(server.log_path)
    assert wait_dead(pid) and wait_dead(child)
    assert not os.path.exists(log_dir)


def test_configured_port_in_use_falls_back_to_a_free_one(monkeypatch):
    use_fake(monkeypatch)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        with local_llm.managed_server(LocalLLMConfig(port=taken)) as server:
            assert server.port != taken
            assert local_llm.served_model(server.base_url) == "fake-llama"


def test_port_taken_during_startup_is_retried_on_another_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        calls = []

        def command(port):  # the first start finds its port taken (someone bound it meanwhile)
            calls.append(port)
            return [FAKE, "--port", str(taken if len(calls) == 1 else port)]
        server = ManagedServer(LocalLLMConfig(), command, env=ENV)
        try:
            server.start()
            assert len(calls) == 2
            assert local_llm.served_model(server.base_url) == "fake-llama"
        finally:
            server.stop()


def test_failed_start_raises_with_the_log_tail_and_leaves_nothing(monkeypatch):
    use_fake(monkeypatch, "--fail", "unable to load model: invalid magic in GGUF header")
    with pytest.raises(LocalServerError) as err:
        with local_llm.managed_server(LocalLLMConfig()):
            pytest.fail("must not get here")
    message = str(err.value)
    assert "exited with code 3" in message
    assert "invalid magic in GGUF header" in message and "nothing was published" in message


def test_server_that_never_answers_times_out_and_is_killed():
    server = ManagedServer(LocalLLMConfig(startup_timeout_s=1.5), fake_command("--hang"), env=ENV)
    with pytest.raises(LocalServerError, match="did not answer within"):
        server.start()
    pid = server.proc.pid if server.proc else None
    server.stop()
    assert pid is None or wait_dead(pid)


def test_stopped_when_the_run_fails(monkeypatch):
    use_fake(monkeypatch)
    with pytest.raises(RuntimeError, match="stage blew up"):
        with local_llm.managed_server(LocalLLMConfig()) as server:
            pid = server.proc.pid
            raise RuntimeError("stage blew up")
    assert wait_dead(pid)


def test_server_dying_mid_run_is_reported_before_publishing():
    server = ManagedServer(LocalLLMConfig(), fake_command("--die_after", "0.5"), env=ENV)
    try:
        server.start()
        assert wait_dead(server.proc.pid)
        server.proc.wait(5)
        with pytest.raises(LocalServerError, match="exited during the run"):
            server.ensure_alive()
    finally:
        server.stop()


DRIVER = textwrap.dedent("""
    import os, signal, sys, time
    sys.path.insert(0, {repo!r})
    # Ctrl-C as at a terminal: a runner started without job control hands its children SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from pipelines import local_llm
    from pipelines.local_llm import LocalLLMConfig
    command = lambda port: [{fake!r}, "--port", str(port)]
    local_llm.server_command = lambda cfg: (command, {{"PYTHONPATH": {repo!r}}})
    with local_llm.managed_server(LocalLLMConfig()) as server:
        print("server", server.proc.pid, os.path.dirname(server.log_path), flush=True)
        time.sleep(600)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_orphan_when_the_driver_is_signalled(sig):
    """SIGTERM and Ctrl-C stop it through the context manager; after SIGKILL it exits by itself."""
    driver = subprocess.Popen([sys.executable, "-c", DRIVER.format(repo=REPO, fake=FAKE)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = driver.stdout.readline()
        assert line.startswith("server "), driver.stderr.read()
        pid, log_dir = int(line.split()[1]), line.split()[2]
        assert alive(pid) and os.path.isdir(log_dir)
        driver.send_signal(sig)
        driver.wait(30)
        assert wait_dead(pid), f"server {pid} survived {sig.name}"
        assert not os.path.exists(log_dir)  # its temporary log directory goes too
    finally:
        if driver.poll() is None:
            driver.kill()


def test_missing_extra_exits_2_with_the_install_command(monkeypatch, tmp_path, capsys):
    from pipelines.__main__ import main
    monkeypatch.setattr(local_llm, "SERVER_MODULES", local_llm.SERVER_MODULES + ("no_such_module_xyz",))
    out = tmp_path / "out"
    code = main(["run", os.path.join(REPO, "configs", "quickstart.yaml"), "--output", str(out),
                 "--input", os.path.join(REPO, "pipelines", "seeds", "quickstart_seeds.jsonl")])
    err = capsys.readouterr().err
    assert code == 2
    assert 'pip install -e ".[local]"' in err and "no_such_module_xyz" in err
    assert not out.exists()


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(local_llm.LocalLLMUnavailable, match="no GGUF file"):
        local_llm.find_model(LocalLLMConfig(model_path=str(tmp_path / "missing.gguf")))


def test_one_thread_on_small_machines():
    assert local_llm.default_threads(1) == 1 and local_llm.default_threads(2) == 1
    assert local_llm.default_threads(8) == 4


def test_endpoint_settings_adapt_to_a_one_request_server():
    server = ManagedServer(LocalLLMConfig(), fake_command(), env=ENV)
    server.port, server.model = 4321, "SmolLM2-135M-Instruct.Q4_1"
    configured = EndpointConfig(base_url="local", model="gpt-4o-mini", num_actors=4, concurrency_per_actor=64,
                                rpm=500, tpm=150000, max_cost_usd=5.0).model_dump()
    settings = local_llm.endpoint_settings(configured, server, LocalLLMConfig(n_ctx=2048))
    endpoint = EndpointConfig.model_validate(settings)
    assert endpoint.base_url == "http://127.0.0.1:4321/v1" and endpoint.model == "SmolLM2-135M-Instruct.Q4_1"
    assert (endpoint.num_actors, endpoint.concurrency_per_actor, endpoint.rpm, endpoint.tpm) == (1, 1, None, None)
    assert endpoint.context_tokens == 2048
    assert endpoint.price().cost(1000, 1000) == 0.0  # a budget cap still validates, and costs nothing
    assert endpoint.api_key_env == local_llm.KEY_ENV  # a real OpenAI key is never sent to the local server
    server.stop()


def test_pipeline_on_local_endpoint_uses_the_managed_server(monkeypatch, tmp_path, ray_session):
    """The runner hook: `base_url: local` starts the server for the run, one request at a time, then stops it."""
    from pipelines.config import load_config
    from pipelines.runner import run_pipeline
    started = []

    def command(port):
        started.append(port)
        return [FAKE, "--port", str(port), "--latency", "0.02"]
    monkeypatch.setattr(local_llm, "server_command", lambda cfg: (command, ENV))
    stats = {}
    original_stop = ManagedServer.stop

    def stop(self):  # read the server's counters just before it goes
        if self.proc is not None and self.proc.poll() is None and not stats:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stats", timeout=5) as response:
                stats.update(json.loads(response.read()))
            stats["pid"] = self.proc.pid
        original_stop(self)
    monkeypatch.setattr(ManagedServer, "stop", stop)
    cfg, raw = load_config(os.path.join(REPO, "configs", "quickstart_en.yaml"), output=str(tmp_path / "out"),
                           inputs=[os.path.join(REPO, "pipelines", "seeds", "quickstart_seeds.jsonl")],
                           overrides=["endpoint.num_actors=2", "endpoint.concurrency_per_actor=16"])
    manifest = run_pipeline(cfg, raw)
    assert len(started) == 1
    assert stats["requests"] == manifest["counts"]["input"] > 0
    assert stats["max_inflight"] == 1
    assert wait_dead(stats["pid"])
    assert manifest["local_llm"]["model"] == "fake-llama"
    generate = next(s for s in manifest["stages"] if s["name"] == "generate_response")
    assert generate["in"] == generate["out"] + generate["rejected"] and generate["out"] > 0
