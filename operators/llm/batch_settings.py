"""`endpoint.batch`: how a stage in `mode: batch | batch_file` splits, submits and waits (docs/batch.md).

`batch`: requests go through the provider's files and batches API (half price, up to a 24 h window);
`batch_file`: request files are written to `file_uri` and the run stops (exit 4) until a later run
reads the results given by `file_results` (e.g. `vllm run-batch` output).
"""
from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

MODES = ("sync", "batch", "batch_file")


class BatchSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Provider limits per input file (OpenAI: 50,000 requests, 200 MB).
    max_requests_per_file: int = Field(50_000, ge=1)
    max_file_mb: float = Field(190.0, gt=0)
    completion_window: str = "24h"
    # Polling: starts at poll_s, grows by half each time up to poll_max_s; max_wait_s: give up (None: never).
    poll_s: float = Field(10.0, gt=0)
    poll_max_s: float = Field(300.0, gt=0)
    max_wait_s: Optional[float] = Field(None, gt=0)
    # An expired batch: its requests without a result are resubmitted at most this many times.
    max_resubmits: int = Field(2, ge=0)
    # batch_file: where request files go (None: <cache_uri>_batches/files/) and where results are read from.
    file_uri: Optional[str] = None
    file_results: Optional[str] = None


def batch_location(cache_uri: Optional[str]) -> Optional[str]:
    """The batch ledger, request files and per-run views live next to the response cache."""
    return None if cache_uri is None else cache_uri.rstrip("/") + "_batches"
