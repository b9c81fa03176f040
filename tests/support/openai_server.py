"""A fake OpenAI chat-completions server over real HTTP on 127.0.0.1, with fault injection.

    with FakeOpenAI(latency_s=0.05, fault_rates={"503": 0.2}) as server:
        client = AsyncOpenAI(base_url=server.url, api_key="x")

Answers come from `answer_fn(messages, body) -> str` (default: deterministic text derived from the
prompt; `replay_answers(path)` looks real answers up by instruction). Faults, by rate (seeded, so a run
is reproducible) or by a marker in the prompt, `[[fault:NAME]]` (every request) or `[[fault:NAMExK]]`
(the first K requests of that prompt, then normal answers):

    429 (with Retry-After), 500, 503, 400, context (400 context_length_exceeded), reset (connection
    reset), hang (no answer for `hang_s`), malformed (invalid JSON), empty (empty content),
    length (finish_reason "length"), content_filter (finish_reason "content_filter")

`counts[prompt]` is how many requests each prompt (the last user message) received and
`times[prompt]` when; `auth_failures` counts requests whose key was not `expected_key` (if set).
Run standalone for benchmarks: `python -m tests.support.openai_server --latency 0.2` prints the URL;
`GET /_stats` returns the totals and arrival times (also per model). The Batch API (files, batches, status
transitions, per-line faults by the same markers) is in tests/support/batch_server.py, reached as `server.batches`.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import re
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable, Optional

from aiohttp import web

FAULTS = ("429", "500", "503", "400", "context", "reset", "hang", "malformed", "empty", "length",
          "content_filter")
MARKER = re.compile(r"\[\[fault:([a-z0-9_]+?)(?:x(\d+))?\]\]")
_INSTRUCTION = re.compile(r"### (?:Instruction|指令):\n(.*?)\n\n### (?:Input|Response|输入|回答):", re.S)
_INPUT = re.compile(r"### (?:Input|输入):\n(.*?)\n\n### (?:Response|回答):", re.S)

AnswerFn = Callable[[list[dict[str, Any]], dict[str, Any]], str]


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text.encode("utf-8")) / 4)) if text else 0


def last_user(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content, sort_keys=True)
    return ""


def split_alpaca(prompt: str) -> tuple[str, str]:
    """(instruction, input) from an Alpaca prompt; the whole prompt if it is not one."""
    found = _INSTRUCTION.search(prompt)
    if not found:
        return prompt.strip(), ""
    extra = _INPUT.search(prompt)
    return found.group(1).strip(), extra.group(1).strip() if extra else ""


def deterministic_answer(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    instruction, _ = split_alpaca(last_user(messages))
    digest = hashlib.sha256(last_user(messages).encode()).hexdigest()
    words = 8 + int(digest[:2], 16) % 24
    return f"Answer {digest[:8]} to: {MARKER.sub('', instruction)[:80]}. " + " ".join(
        f"w{digest[i % 60:i % 60 + 3]}" for i in range(words))


def replay_answers(path: str | Path, fallback: AnswerFn = deterministic_answer) -> AnswerFn:
    """Answers from a file of real ones (alpaca_gpt4_data.json layout), looked up by instruction+input."""
    table = {}
    for row in json.loads(Path(path).read_text(encoding="utf-8")):
        table.setdefault((row["instruction"].strip(), (row.get("input") or "").strip()), row["output"])

    def answer(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        key = split_alpaca(last_user(messages))
        return table.get(key) or table.get((key[0], "")) or fallback(messages, body)
    return answer


class FakeOpenAI:
    def __init__(self, latency_s: float = 0.0, answer_fn: AnswerFn = deterministic_answer,
                 fault_rates: Optional[dict[str, float]] = None, retry_after_s: float = 1.0,
                 hang_s: float = 30.0, seed: int = 0, expected_key: Optional[str] = None,
                 model: Optional[str] = None, port: int = 0):
        unknown = set(fault_rates or {}) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        self.latency_s, self.answer_fn, self.fault_rates = latency_s, answer_fn, dict(fault_rates or {})
        self.retry_after_s, self.hang_s, self.seed = retry_after_s, hang_s, seed
        self.expected_key, self.model, self.port = expected_key, model, port
        self.counts: Counter = Counter()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.faults_sent: Counter = Counter()
        self.arrivals: list[float] = []
        self.model_arrivals: dict[str, list[float]] = defaultdict(list)  # by the request's `model`
        self.auth_failures = 0
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._runner: Optional[web.AppRunner] = None
        from tests.support.batch_server import BatchAPI
        self.batches = BatchAPI(self)  # /v1/files and /v1/batches (tests/support/batch_server.py)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def total(self) -> int:
        return len(self.arrivals)

    def requests_for(self, text: str) -> int:
        """Requests received by prompts containing `text` (e.g. an instruction)."""
        with self._lock:
            return sum(n for prompt, n in self.counts.items() if text in prompt)

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear(), self.times.clear(), self.faults_sent.clear(), self.arrivals.clear()
            self.model_arrivals.clear()

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "FakeOpenAI":
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="fake-openai", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake OpenAI server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(15)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start_site())
        ready.set()
        self._loop.run_forever()

    async def _start_site(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_stats", self._stats)
        self.batches.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=4096)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    # --- handlers --------------------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.model or "fake", "object": "model"}]})

    async def _stats(self, request: web.Request) -> web.Response:
        with self._lock:
            return web.json_response({"total": self.total, "arrivals": list(self.arrivals),
                                      "by_model": {m: list(t) for m, t in self.model_arrivals.items()},
                                      "faults": dict(self.faults_sent)})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        messages = body.get("messages") or []
        prompt = last_user(messages)
        with self._lock:
            self.counts[prompt] += 1
            self.times[prompt].append(time.time())
            self.arrivals.append(time.time())
            self.model_arrivals[str(body.get("model"))].append(self.arrivals[-1])
            nth = self.counts[prompt]
        if self.expected_key is not None and request.headers.get("Authorization") != f"Bearer {self.expected_key}":
            with self._lock:
                self.auth_failures += 1
            return _error(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
        fault = self._fault(prompt, nth)
        if fault:
            with self._lock:
                self.faults_sent[fault] += 1
        if fault == "hang":
            await asyncio.sleep(self.hang_s)
        elif self.latency_s:
            await asyncio.sleep(self.latency_s)
        return await self._respond(request, body, messages, fault)

    async def _respond(self, request: web.Request, body: dict, messages: list, fault: Optional[str]):
        if fault == "429":
            return _error(429, "requests", "rate_limit_exceeded", "Rate limit reached.",
                          {"Retry-After": f"{self.retry_after_s:g}"})
        if fault in ("500", "503"):
            return _error(int(fault), "server_error", None, "The server had an error.")
        if fault == "400":
            return _error(400, "invalid_request_error", None, "Invalid request.")
        if fault == "context":
            return _error(400, "invalid_request_error", "context_length_exceeded", "Too long.")
        if fault == "reset":
            request.transport.abort()
            return web.Response(status=500)  # never sent: the connection is already gone
        if fault == "malformed":
            return web.Response(status=200, text='{"id": "chatcmpl-x", "choices": [{"mess',
                                content_type="application/json")
        return web.json_response(self.completion_body(body, messages, fault))

    def completion_body(self, body: dict, messages: list, fault: Optional[str]) -> dict:
        """A chat completion (also a batch line's answer): the answer, its finish reason and usage."""
        answer = "" if fault == "empty" else self.answer_fn(messages, body)
        finish = "stop"
        if fault == "length":
            answer, finish = answer[: max(1, len(answer) // 2)], "length"
        elif fault == "content_filter":
            answer, finish = "", "content_filter"
        prompt_tokens = sum(count_tokens(str(m.get("content") or "")) + 4 for m in messages) + 2
        completion_tokens = count_tokens(answer)
        return {
            "id": "chatcmpl-" + hashlib.sha1(answer.encode()).hexdigest()[:12],
            "object": "chat.completion", "created": int(time.time()),
            "model": self.model or body.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}

    def _fault(self, prompt: str, nth: int) -> Optional[str]:
        marker = MARKER.search(prompt)
        if marker and marker.group(1) in FAULTS:
            times = marker.group(2)
            return marker.group(1) if times is None or nth <= int(times) else None
        if not self.fault_rates:
            return None
        digest = hashlib.blake2b(f"{self.seed}\0{prompt}\0{nth}".encode(), digest_size=8).digest()
        draw, edge = int.from_bytes(digest, "big") / 2 ** 64, 0.0
        for name, rate in sorted(self.fault_rates.items()):
            edge += rate
            if draw < edge:
                return name
        return None


def _error(status: int, type_: str, code: Optional[str], message: str,
           headers: Optional[dict[str, str]] = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": type_, "param": None, "code": code}},
                             status=status, headers=headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--replay", help="alpaca_gpt4_data.json-style file of answers")
    parser.add_argument("--bootstrap", action="store_true", help="answer instruction-generation prompts with lists")
    parser.add_argument("--feedback", action="store_true",
                        help="answers per model and a hidden-rule judge (tests/support/feedback_server.py)")
    parser.add_argument("--first-bias", type=float, default=0.0, help="with --feedback: first-position bias")
    parser.add_argument("--fault", action="append", default=[], help="NAME=RATE, e.g. length=0.1")
    args = parser.parse_args()
    answer = replay_answers(args.replay) if args.replay else deterministic_answer
    if args.bootstrap:
        from tests.support.bootstrap_server import bootstrap_answer
        answer = bootstrap_answer
    if args.feedback:
        from tests.support.feedback_server import FeedbackAnswers
        answer = FeedbackAnswers(first_bias=args.first_bias)
    faults = {name: float(rate) for name, rate in (item.split("=", 1) for item in args.fault)}
    server = FakeOpenAI(latency_s=args.latency, answer_fn=answer, port=args.port, fault_rates=faults).start()
    print(f"listening {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
