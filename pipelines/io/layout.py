"""Names inside a published output, and reading its manifest (no Ray: `inspect` uses this)."""
from __future__ import annotations

import json
from typing import Any

from operators import storage

MANIFEST = "_manifest.json"
STAGING = "_staging"


class ManifestError(RuntimeError):
    """`_manifest.json` exists but cannot be read as a manifest."""


def read_manifest(output_uri: str) -> dict[str, Any]:
    uri = storage.join(output_uri, MANIFEST)
    if not storage.exists(uri):
        raise FileNotFoundError(f"no {MANIFEST} under {output_uri}: not a published output")
    try:
        return json.loads(storage.read_bytes(uri).decode("utf-8"))
    except ValueError as err:
        raise ManifestError(f"{uri} is not a readable manifest ({err})") from None
