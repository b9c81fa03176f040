"""The durable record of submitted batches: one small JSON file per batch under `<batches>/ledger/`,
written (atomically) after the upload and again right after the batch is created, before any wait."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Optional

from operators import storage
from operators.llm.batch_settings import batch_location


class Ledger:
    def __init__(self, cache_uri: str):
        self.root = batch_location(cache_uri)

    @property
    def ledger_dir(self) -> str:
        return storage.join(self.root, "ledger")

    def new(self, **fields: Any) -> dict[str, Any]:
        record = {"id": f"{int(time.time())}-{uuid.uuid4().hex[:8]}", "created": time.time(), "batch_id": None,
                  "status": "uploading", "collected": False, **fields}
        self.save(record)
        return record

    def save(self, record: dict[str, Any]) -> None:
        data = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8")
        storage.write_bytes(storage.join(self.ledger_dir, f"{record['id']}.json"), data)

    def records(self) -> list[dict[str, Any]]:
        found = []
        for uri in storage.list_children(self.ledger_dir):
            if uri.endswith(".json") and not uri.rsplit("/", 1)[-1].startswith("."):
                found.append(json.loads(storage.read_bytes(uri)))
        return sorted(found, key=lambda r: (r["created"], r["id"]))

    def pending(self, where: Optional[str] = None) -> list[dict[str, Any]]:
        return [r for r in self.records() if not r["collected"] and (where is None or r.get("base_url") == where)]
