"""`instructpipe batches list|status|cancel OUTPUT_OR_CACHE_URI`: the batches recorded next to a response cache."""
from __future__ import annotations

import sys
import time
from typing import Any

from operators import storage
from operators.llm.batch_settings import batch_location
from operators.llm.endpoint import EndpointConfig
from pipelines.batch.ledger import Ledger
from pipelines.batch.provider import TERMINAL, Provider


def caches_of(uri: str) -> list[str]:
    """The response caches an output or cache URI means: `<output>/_llm_cache` (or the cache given), then
    each named endpoint's `<cache>/<name>` that has batches recorded (`<cache>/<name>_batches`)."""
    uri = uri.rstrip("/")
    if uri.endswith("_batches"):
        return [uri[: -len("_batches")]]
    output = not storage.exists(batch_location(uri)) and storage.exists(storage.join(uri, "_llm_cache"))
    root = storage.join(uri, "_llm_cache") if output else uri
    return [root] + [child.rstrip("/")[: -len("_batches")] for child in storage.list_children(root)
                     if child.rstrip("/").endswith("_batches")]


def provider_for(record: dict[str, Any]) -> Provider:
    cfg = EndpointConfig(base_url=record["base_url"], model=record["model"], api_key_env=record["api_key_env"])
    return Provider(cfg)


def until_ended(provider: Provider, batch: dict[str, Any], wait_s: float = 120.0) -> dict[str, Any]:
    """A cancel takes effect when the provider says `cancelled` (OpenAI: within minutes)."""
    deadline, delay = time.monotonic() + wait_s, 0.2
    while batch["status"] not in TERMINAL and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 10.0)
        batch = provider.retrieve(batch["id"])
    return batch


def main(action: str, uri: str) -> int:
    caches = caches_of(uri)
    found = [(ledger, record) for ledger in map(Ledger, caches) for record in ledger.records()]
    if not found:
        print(f"no batches recorded under {batch_location(caches[0])}")
        return 0
    records = [record for _, record in found]
    if action in ("status", "cancel"):
        for ledger, record in found:
            if record["collected"] or not record.get("batch_id"):
                continue
            provider = provider_for(record)
            batch = provider.cancel(record["batch_id"]) if action == "cancel" else provider.retrieve(record["batch_id"])
            if action == "cancel":
                batch = until_ended(provider, batch)
            record["status"], record["counts"] = batch["status"], batch.get("request_counts") or record.get("counts")
            ledger.save(record)
    print(f"{'batch':<28} {'stage':<20} {'status':<12} {'requests':>8} {'collected':>9}  counts")
    for r in records:
        print(f"{r.get('batch_id') or '-':<28} {r['stage']:<20} {r['status']:<12} {r['requests']:>8} "
              f"{'yes' if r['collected'] else 'no':>9}  {r.get('counts') or ''}")
    running = [r for r in records if not r["collected"] and r["status"] not in TERMINAL]
    if action == "cancel":
        print(f"{len(running)} batch(es) still running after the cancel; a rerun collects what the cancelled "
              f"ones answered and submits the rest")
    else:
        print(f"{len(running)} batch(es) in flight; a rerun of the pipeline collects them")
    sys.stdout.flush()
    return 0
