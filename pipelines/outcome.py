"""Runs that balance but must not publish: every row rejected at read, or an LLM stage that lost too
many rows to its endpoint (timeouts, connection errors, 5xx after retries)."""
from __future__ import annotations

import json
from typing import Any, Optional

from operators import storage
from operators.llm.breaker import EndpointFailing, infra_failures, resume_hint
from operators.llm.endpoint import EndpointConfig, cache_location, redact_url, resolve_base_url
from pipelines.io.errors import InputError

DEFAULT_SHARE = EndpointConfig.model_fields["max_infra_failure_share"].default


def check_outcome(stages: list[dict[str, Any]], staging: str, rejects: list[dict[str, Any]],
                  endpoint: Optional[EndpointConfig], output_uri: str, from_read: bool = True) -> None:
    read = stages[0]
    if from_read and read["in"] and not read["out"]:
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(read["reasons"].items(), key=lambda x: -x[1]))
        raise InputError(f"all {read['in']} input rows were rejected at read ({reasons}), first at "
                         f"{first_reject_source(staging, rejects)}; check the input's format and field mapping "
                         f"(--fields instruction=SOURCE,output=SOURCE, or inputs.N.fields in the config)")
    share = endpoint.max_infra_failure_share if endpoint is not None else DEFAULT_SHARE
    for stage in stages[1:]:
        lost = infra_failures(stage["reasons"])
        if stage["in"] and lost / stage["in"] > share:
            where = redact_url(resolve_base_url(endpoint)) if endpoint is not None else "the endpoint"
            cache = cache_location(endpoint, output_uri) if endpoint is not None else None
            raise EndpointFailing(
                f"stage {stage['name']}: {lost} of {stage['in']} rows failed for infrastructure reasons at "
                f"{where} (more than endpoint.max_infra_failure_share={share}); nothing was published; "
                f"{resume_hint(cache)}")


def first_reject_source(staging: str, rejects: list[dict[str, Any]]) -> str:
    """`file:line` of the first rejected row (read from the staged reject shards)."""
    for entry in rejects:
        for line in storage.iter_lines(storage.join(staging, entry["path"])):
            return json.loads(line).get("source") or "?"
    return "?"
