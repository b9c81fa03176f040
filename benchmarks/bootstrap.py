"""Bootstrapping: novelty checking at scale, and an Alpaca run through the CLI at 200 ms latency.

(1) The 52K Alpaca instructions in file order (plus a near-copy of an earlier one after every 50th, so
there is something to reject) go through the novelty index against the growing pool; time per
candidate is measured at pool sizes 1K, 10K and 50K: the 300 arrivals after the pool reached that
size are checked, and the novel ones added, on a copy of the pool as it was then; the sizes take turns
for 7 rounds at the end and each keeps its best (the machine is shared: the sizes see the same
conditions); the order rebuilds, one per doubling of the pool, are reported apart, amortised per add.
The reference (Stanford Alpaca's loop: pre-tokenised pool, rouge-score's `_score_lcs` against every
pool member, one process) is timed on a subsample at the same pool sizes; its decisions on that subsample give the agreement.
(2) `python -m pipelines run` of an Alpaca config (5K accepted) against the test server at 200 ms:
requests per second over the source's wall time / the ideal (requests in flight / latency).

    python -m benchmarks.bootstrap [--quick] [--novelty-only | --reuse-novelty]
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import subprocess
import sys
import time

import yaml
from rouge_score import rouge_scorer

from benchmarks.common import OUT, REPO, figures_line
from operators.bootstrap.novelty import NoveltyIndex
from operators.bootstrap.rouge import rouge_tokens
from tests.support.shared_data import SELF_INSTRUCT_SEEDS, alpaca_instructions

SIZES = (1000, 10000, 50000)
WINDOW = 300  # candidates timed around each pool size


def stream(n: int | None) -> list[tuple[str, bool]]:
    rng, out = random.Random(7), []
    for text in alpaca_instructions(n):
        out.append((text, False))
        if len(out) % 50 == 0:
            words = rng.choice(out[:-1])[0].split()
            words[rng.randrange(len(words))] = "zebra"
            out.append((" ".join(words), True))
    return out


def brute_force(tokens: list[str], pool: list[list[str]]) -> float:
    return max((rouge_scorer._score_lcs(tokens, other).fmeasure for other in pool), default=0.0)


def novelty(sizes: tuple[int, ...], samples: int, rounds: int = 7) -> dict:
    texts = stream(None if sizes[-1] >= 50000 else sizes[-1] + 2 * WINDOW)
    index, pool_tokens = NoveltyIndex(0.7), []
    rebuilds = timed(NoveltyIndex, "_rebuild")
    snapshots, reference, agree, checked = {}, {}, 0, 0
    pending = list(sizes)
    i = 0
    while i < len(texts) and pending:
        if len(index) >= pending[0]:
            size = pending.pop(0)
            window = [text for text, _ in texts[i:i + WINDOW]]
            snapshots[size] = (copy.deepcopy(index), window)
            for text in window:  # the window joins in arrival order
                if index.add_if_novel(text)[0].novel:
                    pool_tokens.append(rouge_tokens(text))
            i += len(window)
            # the reference on a subsample: half near-copies, half ordinary arrivals
            sample = [t for t in texts[i:] if t[1]][:samples // 2] + [t for t in texts[i:] if not t[1]][:samples // 2]
            started = time.perf_counter()
            for text, _ in sample:
                tokens = rouge_tokens(text)
                brute_novel = brute_force(tokens, pool_tokens) <= 0.7
                agree += brute_novel == index.check(text).novel
                checked += 1
            reference[size] = (time.perf_counter() - started) / len(sample)
            print(f"pool={len(index)} reference_ms={1000 * reference[size]:.1f}", flush=True)
            continue
        text = texts[i][0]
        verdict, _ = index.add_if_novel(text)
        if verdict.novel:
            pool_tokens.append(rouge_tokens(text))
        i += 1
    rebuilt = dict(rebuilds)
    check, add = side_by_side(snapshots, rounds, rebuilds)
    per_candidate = {size: check[size] + add[size] for size in snapshots}
    for size in snapshots:
        print(f"pool={size} novelty_ms={1000 * per_candidate[size]:.3f} check_ms={1000 * check[size]:.3f} "
              f"add_ms={1000 * add[size]:.3f}", flush=True)
    last = max(per_candidate)
    return {"pool": len(index), "per_candidate_ms": {k: round(1000 * v, 4) for k, v in per_candidate.items()},
            "check_ms": {k: round(1000 * v, 4) for k, v in check.items()},
            "add_ms": {k: round(1000 * v, 4) for k, v in add.items()},
            "reference_ms": {k: round(1000 * v, 2) for k, v in reference.items()},
            "rebuild_ms_per_add": round(1000 * rebuilt["s"] / len(index), 4), "rebuilds": rebuilt["n"],
            "speedup": reference[last] / per_candidate[last], "agreement": agree / checked, "checked": checked,
            "growth": per_candidate[last] / per_candidate[min(per_candidate)]}


def side_by_side(snapshots: dict, rounds: int, rebuilds: dict) -> tuple[dict, dict]:
    """Seconds per candidate to check each pool size's window, and to add its novel ones (without the
    order rebuilds, reported apart), on a fresh copy of the pool as it was when the window arrived. The
    sizes take turns, round after round, and each keeps its best round: on a shared machine the
    sizes then see the same conditions, where measuring each as the pool passes it would compare
    minutes apart."""
    check = {size: float("inf") for size in snapshots}
    add = dict(check)
    for _ in range(rounds):
        for size, (pool, window) in snapshots.items():
            fresh = copy.deepcopy(pool)
            started = time.perf_counter()
            for text in window:
                fresh.check(text)
            check[size] = min(check[size], (time.perf_counter() - started) / len(window))
            add_s = 0.0
            for text in window:  # in arrival order: each against the pool with the earlier ones added
                if fresh.check(text).novel:
                    before, started = rebuilds["s"], time.perf_counter()
                    fresh.add(text)
                    add_s += time.perf_counter() - started - (rebuilds["s"] - before)
            add[size] = min(add[size], add_s / len(window))
    return check, add


def timed(owner, method: str) -> dict:
    """Wrap owner.method to sum its wall time (the index's order rebuilds, once per doubling of the pool)."""
    total, inner = {"s": 0.0, "n": 0}, getattr(owner, method)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            total["s"] += time.perf_counter() - started
            total["n"] += 1
    setattr(owner, method, wrapper)
    return total


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    """The test server in its own process, answering generation prompts with lists (10% truncated)."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.openai_server", "--latency", str(latency),
                             "--bootstrap", "--fault", "length=0.1"], cwd=REPO, stdout=subprocess.PIPE,
                            text=True, env=_env())
    line = proc.stdout.readline().strip()
    if not line.startswith("listening "):
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, line.split()[1]


def alpaca_run(target: int, latency: float, in_flight: int) -> dict:
    proc, url = start_server(latency)
    out = OUT / "bootstrap_alpaca"
    raw = {"name": "bootstrap_bench", "lang": "en",
           "source": {"method": "alpaca", "seeds": str(SELF_INSTRUCT_SEEDS), "target": target,
                      "prompts_per_round": in_flight},
           "output": {"uri": str(out)},
           "endpoint": {"base_url": url, "model": "gpt-3.5-turbo", "api_key_env": "BENCH_KEY",
                        "concurrency_per_actor": in_flight, "limiter": "local", "cache_uri": "none"},
           "stages": [{"normalize": {}}]}
    path = OUT / "bootstrap_alpaca.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)], check=True)
    try:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pipelines", "run", str(path), "--json"], cwd=REPO,
                              capture_output=True, text=True, env={"BENCH_KEY": "x", **_env()})
        wall = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait()
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    manifest = json.loads(done.stdout.strip().splitlines()[-1])
    source = manifest["source"]
    requests = source["llm"]["requests"]
    rate, ideal = requests / source["elapsed_s"], in_flight / latency
    return {"accepted": source["accepted"], "requests": requests, "rounds": source["rounds"],
            "source_s": source["elapsed_s"], "wall_s": round(wall, 1), "share": rate / ideal,
            "calls_per_accepted": requests / max(1, source["accepted"])}


def _env() -> dict:
    import os
    return {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="pool sizes up to 10K and a 1K run")
    parser.add_argument("--reuse-novelty", action="store_true",
                        help="take part (1) from the last full run's benchmarks/out/bootstrap_novelty.json")
    parser.add_argument("--novelty-only", action="store_true", help="part (1) only (its figures, no run)")
    args = parser.parse_args()
    sizes = SIZES[:2] if args.quick else SIZES
    saved = OUT / "bootstrap_novelty.json"
    if args.reuse_novelty:
        nov = json.loads(saved.read_text())
    else:
        nov = novelty(sizes, samples=20 if args.quick else 30)
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(nov))
    print(json.dumps(nov), flush=True)
    figures = {"pool": nov["pool"], f"speedup_vs_bruteforce_at_{sizes[-1] // 1000}k": round(nov["speedup"], 1),
               "agreement": round(nov["agreement"], 4), f"growth_1k_to_{sizes[-1] // 1000}k": round(nov["growth"], 2)}
    if args.novelty_only:
        print(figures_line(figures))
        return
    run = alpaca_run(1000 if args.quick else 5000, 0.2, 64)
    print(json.dumps(run), flush=True)
    print(figures_line({**figures, "share_of_ideal": round(run["share"], 3),
                        "calls_per_accepted": round(run["calls_per_accepted"], 3)}))


if __name__ == "__main__":
    main()
