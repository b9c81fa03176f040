"""A model server subprocess: started on a free port of 127.0.0.1, watched until it answers, stopped with
its whole process group; it exits by itself when the process that started it is gone (even after SIGKILL).

Generic over the command (`command(port)` -> a module name and its arguments, run with `python -m`
semantics); `pipelines.local_llm` supplies llama.cpp's server and the run-wide lifecycle.
"""
from __future__ import annotations

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
from typing import Any, Callable, Optional

log = logging.getLogger("instructpipe")

READY_MARKER = "Uvicorn running on"  # printed once the server has bound its port (not someone else's)
PORT_IN_USE = "address already in use"
TAIL_LINES = 30
NO_EXTRA_BUFFERS_ENV = "INSTRUCTPIPE_LLAMA_NO_EXTRA_BUFFERS"
SERVER_DIR_ENV = "INSTRUCTPIPE_SERVER_DIR"  # the log's temporary directory, removed by whoever outlives

# Runs in the child: exits when the parent process is gone (even after SIGKILL), then runs the server.
# Without extra buffer types llama.cpp keeps weights in plain CPU buffers: its AMX path (chosen on CPUs
# that report AMX) dies with a general protection fault in `ldtilecfg` on some VMs, killing the server
# at the first request.
_CHILD = """import os, runpy, shutil, signal, sys, threading, time
parent = int(sys.argv.pop(1))
def watch():
    while os.getppid() == parent:
        time.sleep(1.0)
    shutil.rmtree(os.environ.get("%s") or "/nonexistent", ignore_errors=True)
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
""" % (SERVER_DIR_ENV, NO_EXTRA_BUFFERS_ENV)


class LocalServerError(RuntimeError):
    """The local server did not start, or died during the run; the message ends with its log tail."""


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


class ManagedServer:
    """One server subprocess in its own process group; `command(port)` is a module name plus its args."""

    def __init__(self, cfg: Any, command: Callable[[int], list[str]], attempts: int = 3,
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
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1", SERVER_DIR_ENV: self._dir}
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(os.getpid()), *argv],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, env=env)

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
