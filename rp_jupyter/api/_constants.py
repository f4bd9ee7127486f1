"""Defaults for the wire layer, in one place: URLs, timeouts, retry policy, limits.

Every number the client uses to talk to Runpod lives here, named, so a reader can see the
whole policy at a glance (reference/runpod-api.md sections 2, 4 and 5).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_URL = "https://api.runpod.ai/v2"
API_KEY_ENV = "RUNPOD_API_KEY"
BASE_URL_ENV = "RUNPOD_ENDPOINT_BASE_URL"

# Timeouts (seconds).  Long-polls get their wait plus a margin on top of the read timeout.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
LONG_POLL_MARGIN = 15.0

# Connection pools (see ``pools.py``): several small pools, each never holding more
# connections than it keeps alive.  Requests the server holds open (``?wait=`` long-polls,
# /runsync) have pools of their own, so they never delay the short ones.
POOL_SHARDS = 16
POOL_SIZE = 8
HELD_POOL_SHARDS = 64
HELD_POOL_SIZE = 8
KEEPALIVE_EXPIRY = 4.0

# Retries: 429, 5xx and connection errors, exponential backoff with full jitter.
MAX_RETRIES = 5
INITIAL_RETRY_DELAY = 0.2
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0

# Statuses.
FINAL_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
RETRYABLE_STATUSES = frozenset({"FAILED", "TIMED_OUT"})

# Request limits (reference section 4 and 5).
MS_PER_DAY = 24 * 3600 * 1000
EXECUTION_TIMEOUT_MIN_MS = 5_000
EXECUTION_TIMEOUT_MAX_MS = 7 * MS_PER_DAY
TTL_MIN_MS = 10_000
TTL_MAX_MS = 7 * MS_PER_DAY
RUN_MAX_BYTES = 10 * 1024 * 1024
RUNSYNC_MAX_BYTES = 20 * 1024 * 1024
RUNSYNC_WAIT_MIN_MS = 1_000
RUNSYNC_WAIT_MAX_MS = 300_000
LONG_POLL_MAX_MS = 90_000

# Retention of results on the server (seconds after the job is final).
RUN_RETENTION = 30 * 60
RUNSYNC_RETENTION = 60


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per ``per_seconds`` and ``concurrency`` in flight, for one operation."""

    requests: int
    per_seconds: float
    concurrency: int | None = None


# The documented table, per endpoint and operation.  /retry and /health are not listed;
# they get the /cancel and /status figures so that a loop over them stays polite.
RATE_LIMITS: dict[str, RateLimit] = {
    "run": RateLimit(1000, 10.0, 200),
    "runsync": RateLimit(2000, 10.0, 400),
    "status": RateLimit(2000, 10.0, 400),
    "stream": RateLimit(2000, 10.0, 400),
    "cancel": RateLimit(100, 10.0, 20),
    "retry": RateLimit(100, 10.0, 20),
    "purge-queue": RateLimit(2, 10.0, None),
    "health": RateLimit(2000, 10.0, 400),
}

# Which operation's limit each HTTP route counts against.
LIMIT_GROUP = {"status-sync": "status"}

# Operations that may be sent again after an ambiguous failure (the request may have
# reached the server).  /run, /runsync and /retry are not: a second send could start a
# second job or a second attempt.  Nor is /stream: it hands each chunk out once, so chunks
# in an answer lost on the way back are gone; the follower records a gap instead.
SAFE_TO_REPEAT = frozenset({"status", "status-sync", "cancel", "health", "purge-queue"})
# Operations that create a job or an attempt: when one may have been accepted, say so.
SUBMIT_OPERATIONS = frozenset({"run", "runsync", "retry"})
# Per-job operations: a 404 there means the job, not the endpoint, is unknown.
JOB_OPERATIONS = frozenset({"status", "status-sync", "stream", "cancel", "retry"})
