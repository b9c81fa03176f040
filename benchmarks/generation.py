"""Throughput of generate_response against the fake OpenAI server (200 ms latency), and RPM accuracy.

    python -m benchmarks.generation [--latency 0.2] [--rpm-seconds 60] [--quick]

Each configuration runs `actors` Ray actors (0.25 CPU each) holding the real operator; every actor
gets `waves` x `in_flight` distinct prompts in one call. Ideal throughput is actors x in_flight /
latency. Client CPU is the actors' process CPU time per request (`time.process_time` in the actor).
The RPM run sends through two actors with `endpoint.rpm` set and counts what the server received in
the first 60 s. The last line is machine-readable.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import ray

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.openai_server", "--latency", str(latency)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": REPO})
    line = proc.stdout.readline().strip()
    if not line.startswith("listening "):
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.split()[1]


@ray.remote(num_cpus=0.25)
class Client:
    def __init__(self, endpoint: dict, run_id: str):
        from operators.base import StageContext
        from operators.generate import GenerateConfig, GenerateResponse
        self.op = GenerateResponse(GenerateConfig(), StageContext("generate_response", run_id,
                                                                  {"endpoint": endpoint}))

    def run(self, n: int, tag: str) -> tuple[int, float, float, int]:
        from operators.schema import make_record, records_to_table
        batch = records_to_table(make_record(f"Benchmark {tag} question {i}", "", "", "en", "b")
                                 for i in range(n))
        cpu, wall = time.process_time(), time.monotonic()
        out = self.op(batch)
        ok = sum(1 for r in out.column("reason").to_pylist() if r is None)
        return n, time.monotonic() - wall, time.process_time() - cpu, ok


def endpoint(url: str, in_flight: int, **extra) -> dict:
    return {"base_url": url, "model": "gpt-4", "api_key_env": "BENCH_NO_KEY", "cache_uri": "none",
            "concurrency_per_actor": in_flight, "timeout_s": 60, **extra}


def throughput(url: str, actors: int, in_flight: int, latency: float, waves: int) -> dict:
    run_id = uuid.uuid4().hex
    clients = [Client.remote(endpoint(url, in_flight), run_id) for _ in range(actors)]
    ray.get([c.run.remote(in_flight, f"warm-{uuid.uuid4().hex}") for c in clients])
    tag = uuid.uuid4().hex
    started = time.monotonic()
    results = ray.get([c.run.remote(in_flight * waves, f"{tag}-{i}") for i, c in enumerate(clients)])
    wall = time.monotonic() - started
    del clients  # out of scope: the actors exit
    total = sum(r[0] for r in results)
    ok = sum(r[3] for r in results)
    rate = total / wall
    ideal = actors * in_flight / latency
    return {"actors": actors, "in_flight": in_flight, "requests": total, "ok": ok, "req_per_s": rate,
            "ideal": ideal, "share": rate / ideal, "cpu_ms_per_req": 1000 * sum(r[2] for r in results) / total}


def rpm_accuracy(url: str, stats_url: str, rpm: float, seconds: float) -> dict:
    per_actor = int(rpm / 60 * (seconds + 8) / 2) + 1
    run_id = uuid.uuid4().hex  # one run: both actors share the run's limiter
    clients = [Client.remote(endpoint(url, 64, rpm=rpm), run_id) for _ in range(2)]
    ray.get([c.run.remote(1, f"warm-{uuid.uuid4().hex}") for c in clients])  # the warm-up counts too
    mark = time.time()
    tag = uuid.uuid4().hex
    ray.get([c.run.remote(per_actor, f"{tag}-{i}") for i, c in enumerate(clients)])
    arrivals = sorted(t for t in json.loads(urllib.request.urlopen(stats_url).read())["arrivals"] if t >= mark)
    start = arrivals[0]
    window = sum(1 for t in arrivals if t < start + seconds)
    target = rpm * seconds / 60
    return {"rpm": rpm, "seconds": seconds, "received": window, "target": target,
            "error_pct": 100 * abs(window - target) / target}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--rpm", type=float, default=1200)
    parser.add_argument("--rpm-seconds", type=float, default=60)
    parser.add_argument("--waves", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="fewer configurations, 20 s RPM run")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    server, url = start_server(args.latency)
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": REPO}})
        grid = [(1, 16), (1, 64), (2, 64)] if args.quick else [
            (a, f) for a in (1, 2, 4) for f in (16, 64, 256)]
        rows = []
        for actors, in_flight in grid:
            r = throughput(url, actors, in_flight, args.latency, args.waves)
            rows.append(r)
            print(f"actors={actors} in_flight/actor={in_flight:4d} req/s={r['req_per_s']:8.1f} "
                  f"ideal={r['ideal']:7.1f} share={100 * r['share']:5.1f}% "
                  f"client_cpu_ms/req={r['cpu_ms_per_req']:.2f} ok={r['ok']}/{r['requests']}", flush=True)
        seconds = 20 if args.quick else args.rpm_seconds
        rpm = rpm_accuracy(url, url.rsplit("/v1", 1)[0] + "/_stats", args.rpm, seconds)
        print(f"rpm limit {rpm['rpm']:.0f} over {seconds:.0f} s: server received {rpm['received']} "
              f"(target {rpm['target']:.0f}), error {rpm['error_pct']:.2f}%", flush=True)
        at64 = [r for r in rows if r["in_flight"] == 64 and r["actors"] == 1][0]
        best = max(r["req_per_s"] for r in rows)
        print(f"share_of_ideal_at_64={at64['share']:.3f} req_per_s_best={best:.1f} "
              f"client_cpu_ms_per_req={at64['cpu_ms_per_req']:.2f} rpm_error_pct={rpm['error_pct']:.2f}")
    finally:
        server.terminate()
        if ray.is_initialized():
            ray.shutdown()


if __name__ == "__main__":
    main()
