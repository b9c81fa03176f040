"""Names inside a published output, and reading its manifest (no Ray: `inspect` uses this)."""
from __future__ import annotations

import json
from typing import Any

from operators import storage

MANIFEST = "_manifest.json"
STAGING = "_staging"


def read_manifest(output_uri: str) -> dict[str, Any]:
    uri = storage.join(output_uri, MANIFEST)
    if not storage.exists(uri):
        raise FileNotFoundError(f"no {MANIFEST} under {output_uri}: not a published output")
    return json.loads(storage.read_bytes(uri).decode("utf-8"))
