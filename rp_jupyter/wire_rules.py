"""Facts of the Runpod job API that both sides of the wire implement, in one place.

A neutral module (standard library only): the client (``api``), the engine (``jobs``), the
notebook, ``formats`` and the local endpoint (``local``) all read these rules from here, so
a value the client accepts is one the local endpoint accepts too, and a limit the client
keeps under is the one the local endpoint enforces.  Every number comes from
reference/runpod-api.md; the comments give its sections.

Example::

    >>> id_problem("../health")
    "contains '/', which would leave the route"
    >>> path_segment("job 1?")
    'job%201%3F'
    >>> DOCUMENTED_RATE_LIMITS["run"]
    RateLimit(requests=1000, per_seconds=10.0, concurrency=200)
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "DOCUMENTED_RATE_LIMITS",
    "EXECUTION_TIMEOUT_DEFAULT_MS",
    "EXECUTION_TIMEOUT_MAX_MS",
    "EXECUTION_TIMEOUT_MIN_MS",
    "FAILED",
    "FINAL_STATUSES",
    "IN_PROGRESS",
    "IN_QUEUE",
    "LONG_POLL_MAX_MS",
    "MAX_ID_LENGTH",
    "MAX_JSON_DEPTH",
    "RETRYABLE_STATUSES",
    "RUNNING_ALIAS",
    "RUNSYNC_DEFAULT_WAIT_MS",
    "RUNSYNC_MAX_BYTES",
    "RUNSYNC_RETENTION",
    "RUN_MAX_BYTES",
    "RUN_RETENTION",
    "STREAM_CHUNK_MAX_BYTES",
    "STREAM_DEFAULT_HOLD_MS",
    "TIMED_OUT",
    "TTL_DEFAULT_MS",
    "TTL_MAX_MS",
    "TTL_MIN_MS",
    "UNFINISHED_STATUSES",
    "WAIT_MAX_MS",
    "WAIT_MIN_MS",
    "WEBHOOK_RETRIES",
    "WEBHOOK_RETRY_DELAY",
    "MiB",
    "RateLimit",
    "id_problem",
    "json_too_deep",
    "path_segment",
]

# -- Ids and bodies ------------------------------------------------------------------------

#: Longest job or endpoint id accepted (real ones are under 60 characters).
MAX_ID_LENGTH = 256
#: Deepest nesting of objects and arrays accepted in a job's input or a request body.
MAX_JSON_DEPTH = 100

# -- Statuses (section 3) ------------------------------------------------------------------

IN_QUEUE = "IN_QUEUE"
IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
TIMED_OUT = "TIMED_OUT"
#: A job in one of these is done; all four are final (section 3; runpod-python's
#: ``FINAL_STATES`` forgets CANCELLED, section 6.3).
FINAL_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED, TIMED_OUT})
#: A job the server still runs or holds in its queue.
UNFINISHED_STATUSES = frozenset({IN_QUEUE, IN_PROGRESS})
#: What ``/retry`` accepts: a FAILED or TIMED_OUT job, requeued under the same id (2.7).
RETRYABLE_STATUSES = frozenset({FAILED, TIMED_OUT})
#: ``RUNNING`` appears only in the docs' table, as another name for IN_PROGRESS (section 3).
RUNNING_ALIAS = "RUNNING"

# -- Retention (section 5), seconds after the job is final ---------------------------------

RUN_RETENTION = 30 * 60
RUNSYNC_RETENTION = 60

# -- Payloads (sections 2.1, 2.2, 2.5 and 5) -----------------------------------------------

MiB = 1024 * 1024
RUN_MAX_BYTES = 10 * MiB
RUNSYNC_MAX_BYTES = 20 * MiB
#: One streamed chunk; a larger output is split.
STREAM_CHUNK_MAX_BYTES = 1 * MiB

# -- Waits, in ms (sections 2.2, 2.4 and 2.5) ----------------------------------------------

#: ``/runsync?wait=`` and ``/stream?wait=`` accept 1,000..300,000 ms.
WAIT_MIN_MS = 1_000
WAIT_MAX_MS = 300_000
#: How long ``/runsync`` waits when no ``wait`` is given.
RUNSYNC_DEFAULT_WAIT_MS = 90_000
#: How long the hosted ``/stream`` holds a request with nothing ready when no ``wait`` is given.
STREAM_DEFAULT_HOLD_MS = 10_000
#: The longest ``?wait=`` the official JS and Go SDKs send to ``/status-sync`` and
#: ``/stream``; both sides of this project hold a long-poll at most this long.
LONG_POLL_MAX_MS = 90_000

# -- A job's policy, in ms (sections 4 and 5) ----------------------------------------------

_DAY_MS = 24 * 3600 * 1000
EXECUTION_TIMEOUT_DEFAULT_MS = 600_000
EXECUTION_TIMEOUT_MIN_MS = 5_000
EXECUTION_TIMEOUT_MAX_MS = 7 * _DAY_MS
#: ``ttl`` is the whole lifespan of a job, counted from submission.
TTL_DEFAULT_MS = _DAY_MS
TTL_MIN_MS = 10_000
TTL_MAX_MS = 7 * _DAY_MS

# -- Webhooks (section 4) ------------------------------------------------------------------

#: A webhook that fails is tried this many more times, this many seconds apart.
WEBHOOK_RETRIES = 2
WEBHOOK_RETRY_DELAY = 10.0

# -- Rate limits (section 5) ---------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per ``per_seconds`` (sliding window), and at most
    ``concurrency`` requests in flight at once (``None`` = no cap), for one operation.

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


#: The documented table, per user, endpoint and operation.  ``/status-sync`` has the
#: ``/status`` figures (old docs).  The reference gives no limit for ``/retry`` or
#: ``/health`` (section 5 and open question 10), so neither is in the table.
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

# -- Ids in URL paths ----------------------------------------------------------------------


def id_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a job or endpoint id in a URL path, or ``None`` if it can.

    An id is one path segment: it may not be empty, ``.`` or ``..``, hold ``/`` or ``\\``
    (either would move the request to another route), control characters, or characters
    that cannot be encoded as UTF-8.  Anything else is sent percent-encoded.
    """
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value.strip():
        return "is empty"
    if value in (".", ".."):
        return f"is {value!r}, which names a folder, not an id"
    if len(value) > MAX_ID_LENGTH:
        return f"is {len(value):,} characters long (at most {MAX_ID_LENGTH})"
    for sep in ("/", "\\"):
        if sep in value:
            return f"contains {sep!r}, which would leave the route"
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            return f"contains a control character ({char!a})"
        if category == "Cs":
            return f"contains an unpaired surrogate ({char!a}), which is not text"
    return None


def path_segment(value: str) -> str:
    """``value`` percent-encoded as one URL path segment (only ``A-Z a-z 0-9 - . _ ~`` stay
    as they are), for an id that :func:`id_problem` accepts."""
    return quote(value, safe="-._~")


def json_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests objects and arrays more than ``limit`` deep.

    Iterative, so a document nested far deeper than Python's recursion limit is measured
    without overflowing the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return False
