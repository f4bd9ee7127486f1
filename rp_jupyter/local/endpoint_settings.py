"""Per-endpoint settings of the local endpoint: defaults are the hosted behaviour.

Every time window and every rate limit is a plain field, so tests can shrink the
30-minute rules to fractions of a second, and changing a field on a running endpoint
takes effect on the next request.  The defaults are :mod:`rp_jupyter.wire_rules`' facts,
the same the client keeps to.

Example::

    from rp_jupyter.local import EndpointSettings, RateLimit

    fast = EndpointSettings(run_retention=2.0, rate_limits={"run": RateLimit(5, 1.0, None)})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rp_jupyter.wire_rules import (
    DOCUMENTED_RATE_LIMITS,
    EXECUTION_TIMEOUT_DEFAULT_MS,
    EXECUTION_TIMEOUT_MAX_MS,
    EXECUTION_TIMEOUT_MIN_MS,
    LONG_POLL_MAX_MS,
    RUN_MAX_BYTES,
    RUN_RETENTION,
    RUNSYNC_DEFAULT_WAIT_MS,
    RUNSYNC_MAX_BYTES,
    RUNSYNC_RETENTION,
    STREAM_DEFAULT_HOLD_MS,
    TTL_MAX_MS,
    TTL_MIN_MS,
    WEBHOOK_RETRIES,
    WEBHOOK_RETRY_DELAY,
    MiB,
    RateLimit,
)

if TYPE_CHECKING:  # pragma: no cover
    from rp_jupyter.local.faults import Faults

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
    run_retention: float = float(RUN_RETENTION)
    sync_retention: float = float(RUNSYNC_RETENTION)
    default_execution_timeout: float = EXECUTION_TIMEOUT_DEFAULT_MS / 1000
    runsync_default_wait: float = RUNSYNC_DEFAULT_WAIT_MS / 1000
    long_poll_max: float = LONG_POLL_MAX_MS / 1000
    stream_hold: float = STREAM_DEFAULT_HOLD_MS / 1000
    webhook_retries: int = WEBHOOK_RETRIES
    webhook_retry_delay: float = WEBHOOK_RETRY_DELAY
    webhook_timeout: float = 10.0
    rate_limits: dict[str, RateLimit] | Literal["off"] | None = None
    rate_scale: float = 1.0
    max_run_body: int = RUN_MAX_BYTES
    max_runsync_body: int = RUNSYNC_MAX_BYTES
    api_key: str | None = None
    faults: Faults = field(default_factory=_default_faults)
    min_ttl: float = TTL_MIN_MS / 1000
    max_ttl: float = TTL_MAX_MS / 1000
    min_execution_timeout: float = EXECUTION_TIMEOUT_MIN_MS / 1000
    max_execution_timeout: float = EXECUTION_TIMEOUT_MAX_MS / 1000
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
