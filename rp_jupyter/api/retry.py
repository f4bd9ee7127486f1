"""When to send a request again, and how long to wait first.

429 and 503 mean the server did not take the request, so any operation may be sent again;
other 5xx answers and dropped connections are ambiguous, so only operations that are safe to
repeat are (a second ``/run`` could start a second job; a second ``/stream`` would hide
that the first one's chunks were lost).  Waits grow exponentially with equal jitter
(between half and all of the doubled delay, so a retry after a 429 never comes back at once
into the same rate-limit window) and honour ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import httpx

from rp_jupyter.api.client_policy import (
    INITIAL_RETRY_DELAY,
    MAX_RETRIES,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    SAFE_TO_REPEAT,
)

__all__ = ["RetryPolicy", "parse_retry_after"]

NOT_ACCEPTED_STATUSES = frozenset({429, 503})
AMBIGUOUS_STATUSES = frozenset({408, 500, 502, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry, and the backoff bounds (seconds)."""

    max_retries: int = MAX_RETRIES
    initial_delay: float = INITIAL_RETRY_DELAY
    max_delay: float = MAX_RETRY_DELAY
    max_retry_after: float = MAX_RETRY_AFTER

    def should_retry_status(self, operation: str, status_code: int) -> bool:
        if status_code in NOT_ACCEPTED_STATUSES:
            return True
        return status_code in AMBIGUOUS_STATUSES and operation in SAFE_TO_REPEAT

    @staticmethod
    def may_have_been_processed(status_code: int) -> bool:
        """An error answer after which the server may still have carried the request out
        (a gateway's 502 after forwarding, a 500 or 504 mid-way); 429 and 503 say it did not."""
        if status_code in NOT_ACCEPTED_STATUSES:
            return False
        return status_code == 408 or status_code >= 500

    def should_retry_exception(self, operation: str, exc: httpx.TransportError) -> bool:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
            return True  # never reached the server
        return operation in SAFE_TO_REPEAT

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        ceiling = min(self.max_delay, self.initial_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``, in seconds."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())
