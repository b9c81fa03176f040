"""A stand-in for `python -m llama_cpp.server` in lifecycle tests: same flags, same readiness line,
real HTTP on 127.0.0.1, one request at a time (like llama.cpp's server), plus ways to misbehave.

    python -m tests.pipelines.fake_llama_server --port N [--fail TEXT] [--hang] [--die_after S] [--child]

`GET /_stats` returns the number of chat requests and the most that were ever in flight at once.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"requests": 0, "inflight": 0, "max_inflight": 0}
LOCK, ONE_AT_A_TIME = threading.Lock(), threading.Lock()


def answer(prompt: str) -> str:
    task = prompt.split("### Instruction:\n", 1)[-1].split("\n\n", 1)[0].strip()
    return (f"Here is a clear and helpful answer to the task \"{task}\". It explains the main idea in "
            f"plain words, gives one practical example, and ends with a short summary for the reader.")


class Handler(BaseHTTPRequestHandler):
    alias = "fake-llama"
    latency = 0.05

    def log_message(self, fmt, *args):
        print("INFO:     " + fmt % args, flush=True)

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": self.alias, "object": "model"}]})
        elif self.path == "/_stats":
            with LOCK:
                self._json(200, dict(STATE))
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        prompt = body["messages"][-1]["content"]
        with LOCK:
            STATE["requests"] += 1
            STATE["inflight"] += 1
            STATE["max_inflight"] = max(STATE["max_inflight"], STATE["inflight"])
        with ONE_AT_A_TIME:
            time.sleep(self.latency)
            text = answer(prompt)
        with LOCK:
            STATE["inflight"] -= 1
        self._json(200, {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                         "model": self.alias,
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": len(text) // 4,
                                   "total_tokens": (len(prompt) + len(text)) // 4}})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model_alias", default="fake-llama")
    parser.add_argument("--fail", help="print this error and exit 3 instead of serving")
    parser.add_argument("--hang", action="store_true", help="never bind the port")
    parser.add_argument("--die_after", type=float, help="exit 4 this many seconds after binding")
    parser.add_argument("--child", action="store_true", help="start a long-lived child process")
    parser.add_argument("--latency", type=float, default=0.05)
    args, _ = parser.parse_known_args()
    print("loading model (fake)", flush=True)
    if args.child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(f"child pid {child.pid}", flush=True)
    if args.fail:
        print(f"error: {args.fail}", flush=True)
        sys.exit(3)
    if args.hang:
        time.sleep(600)
    Handler.alias, Handler.latency = args.model_alias, args.latency
    try:
        server = ThreadingHTTPServer((args.host, args.port), Handler)
    except OSError as err:
        print(f"ERROR:    [Errno {err.errno}] error while attempting to bind on address "
              f"('{args.host}', {args.port}): address already in use", flush=True)
        sys.exit(1)
    print(f"INFO:     Uvicorn running on http://{args.host}:{args.port} (Press CTRL+C to quit)", flush=True)
    if args.die_after is not None:
        threading.Timer(args.die_after, lambda: __import__("os")._exit(4)).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
