"""Circuit breaker: an endpoint that keeps failing for infrastructure reasons stops the run.

Infrastructure failures are requests that exhausted their retries on a timeout, a connection error,
a 5xx, 408 or 429: the endpoint, not the row, is at fault. `consecutive` such outcomes in a row (no
answer in between) open the breaker: no more requests are sent and the stage fails. The share of rows
lost this way is checked again over the whole stage when the run ends (`max_infra_failure_share`).
"""
from __future__ import annotations

import re
from typing import Mapping, Optional

INFRA_REASON = re.compile(r"^retries_exhausted:(timeout|connect|connection|408|429|5\d\d)$")


class EndpointFailing(RuntimeError):
    """An LLM stage stopped because its endpoint failed too often; nothing is published."""


def is_infra(reason: Optional[str]) -> bool:
    return bool(reason) and INFRA_REASON.match(reason) is not None


def infra_failures(reasons: Mapping[str, int]) -> int:
    return sum(n for reason, n in reasons.items() if is_infra(reason))


def resume_hint(cache_uri: Optional[str]) -> str:
    if not cache_uri:
        return "the response cache is off (endpoint.cache_uri: none), so a rerun asks every row again"
    return (f"answers received so far are kept in the response cache ({cache_uri}); rerun the same "
            f"command once the endpoint is healthy: cached rows are not sent or paid again")


class CircuitBreaker:
    def __init__(self, consecutive: int, endpoint: str, cache_uri: Optional[str]):
        self.limit, self.endpoint, self.cache_uri = consecutive, endpoint, cache_uri
        self.in_a_row = 0
        self.opened: Optional[EndpointFailing] = None

    def record(self, reason: Optional[str]) -> None:
        """Counts one finished request; raises EndpointFailing once the breaker is open."""
        if self.opened is None:
            self.in_a_row = self.in_a_row + 1 if is_infra(reason) else 0
            if self.in_a_row >= self.limit:
                self.opened = EndpointFailing(
                    f"endpoint {self.endpoint}: {self.in_a_row} requests in a row failed after retries "
                    f"(last: {reason}); stopped sending (endpoint.breaker_consecutive={self.limit}); "
                    f"nothing was published; {resume_hint(self.cache_uri)}")
        self.check()

    def check(self) -> None:
        if self.opened is not None:
            raise self.opened
