"""Per-endpoint settings of the local endpoint: defaults are the hosted behaviour.

Every time window and every rate limit is a plain field, so tests can shrink the
30-minute rules to fractions of a second, and changing a field on a running endpoint
takes effect on the next request.

Example::

    from rp_jupyter.local import EndpointSettings, RateLimit

    fast = EndpointSettings(run_retention=2.0, rate_limits={"run": RateLimit(5, 1.0, None)})
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    from rp_jupyter.local.faults import Faults

MiB = 1024 * 1024
DAY = 86_400.0

#: Server-wide limits on a request's head (``LocalServer(max_header_bytes=, max_headers=)``):
#: past either, the answer is 431 before the key is even checked.
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADERS = 100
#: Largest body of a client route other than /run and /runsync (their limits are settings).
MAX_OTHER_BODY = MiB

#: Client-facing operations, in the names used by stats, faults and rate limits.
CLIENT_OPS = (
    "run",
    "runsync",
    "status",
    "status-sync",
    "stream",
    "cancel",
    "retry",
    "purge-queue",
    "health",
    "openai",
)


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per ``per_seconds`` (sliding window), and at most
    ``concurrency`` requests in flight at once (``None`` = no cap).

    Example: ``RateLimit(1000, 10.0, 200)`` is the documented ``/run`` limit.
    """

    requests: int
    per_seconds: float
    concurrency: int | None = None

    def scaled(self, factor: float) -> RateLimit:
        """This limit with the rate and the concurrency cap multiplied by ``factor``."""
        concurrency = None
        if self.concurrency is not None:
            concurrency = max(1, math.floor(self.concurrency * factor))
        return RateLimit(max(1, math.floor(self.requests * factor)), self.per_seconds, concurrency)


#: The documented table (reference section 5): per endpoint and operation.
#: ``/retry`` and ``/health`` are not listed there, so they are not limited.
DOCUMENTED_RATE_LIMITS: dict[str, RateLimit] = {
    "runsync": RateLimit(2000, 10.0, 400),
    "run": RateLimit(1000, 10.0, 200),
    "status": RateLimit(2000, 10.0, 400),
    "status-sync": RateLimit(2000, 10.0, 400),
    "stream": RateLimit(2000, 10.0, 400),
    "cancel": RateLimit(100, 10.0, 20),
    "purge-queue": RateLimit(2, 10.0, None),
    "openai": RateLimit(2000, 10.0, 400),
}


def _default_faults() -> Faults:
    from rp_jupyter.local.faults import Faults

    return Faults()


@dataclass
class EndpointSettings:
    """How one local endpoint behaves; the defaults are the hosted API's.

    Times are in seconds. ``rate_limits`` is ``None`` for the documented table, a dict
    ``op -> RateLimit`` overriding some operations, or ``"off"``.  ``min_ttl`` and
    ``min_execution_timeout`` are the lower bounds used to validate ``policy`` (hosted:
    10 s and 5 s); lower them to test TTL and timeouts quickly.  ``openai_timeout`` is
    the longest an OpenAI-route request waits for its job (its first chunk when
    streaming) before the job is cancelled and 408 answered.  ``runpod_worker`` runs the
    handler script itself (``python worker.py``) as a runpod-python worker instead of
    loading it into a local worker process.  ``openai_route=False`` answers 404 on
    ``/openai/...``, as a server without that route does.  ``cold_start``, ``throttled``
    and ``unhealthy`` simulate why jobs wait on hosted Runpod (see
    :mod:`rp_jupyter.local.simulation`).
    """

    workers: int = 1
    return_aggregate_stream: bool = False
    cold_start: float = 0.0
    throttled: int = 0
    unhealthy: int = 0
    run_retention: float = 1800.0
    sync_retention: float = 60.0
    default_execution_timeout: float = 600.0
    runsync_default_wait: float = 90.0
    long_poll_max: float = 90.0
    webhook_retries: int = 2
    webhook_retry_delay: float = 10.0
    webhook_timeout: float = 10.0
    rate_limits: dict[str, RateLimit] | Literal["off"] | None = None
    rate_scale: float = 1.0
    max_run_body: int = 10 * MiB
    max_runsync_body: int = 20 * MiB
    api_key: str | None = None
    faults: Faults = field(default_factory=_default_faults)
    min_ttl: float = 10.0
    max_ttl: float = 7 * DAY
    min_execution_timeout: float = 5.0
    max_execution_timeout: float = 7 * DAY
    worker_poll_wait: float = 30.0
    openai_timeout: float = 600.0
    openai_route: bool = True
    runpod_worker: bool = False

    def __post_init__(self) -> None:
        for name in ("workers", "throttled", "unhealthy"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")

    def __repr__(self) -> str:  # never show the key
        shown = {k: v for k, v in self.__dict__.items() if k != "api_key"}
        shown["api_key"] = "***" if self.api_key else None
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"EndpointSettings({inner})"

    def effective_rate_limits(self) -> dict[str, RateLimit]:
        """The limits in force now: table, overrides and scale applied (empty when off)."""
        if self.rate_limits == "off":
            return {}
        table = dict(DOCUMENTED_RATE_LIMITS)
        if self.rate_limits:
            for op, limit in self.rate_limits.items():
                if limit is None:
                    table.pop(op, None)
                else:
                    table[op] = limit if isinstance(limit, RateLimit) else RateLimit(*limit)
        if self.rate_scale != 1.0:
            table = {op: limit.scaled(self.rate_scale) for op, limit in table.items()}
        return table

    def retention_for(self, sync: bool) -> float:
        """Seconds a final result stays readable: 1 min after /runsync, 30 min after /run."""
        return self.sync_retention if sync else self.run_retention


SETTINGS_FIELDS = frozenset(EndpointSettings.__dataclass_fields__)


def split_settings(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Check that every key names an :class:`EndpointSettings` field."""
    unknown = set(kwargs) - SETTINGS_FIELDS
    if unknown:
        raise TypeError(f"unknown endpoint setting(s): {', '.join(sorted(unknown))}")
    return kwargs
