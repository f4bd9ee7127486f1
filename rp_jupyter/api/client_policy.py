"""The client's own policy, in one place: where it connects, timeouts, pools, retries, and
the rate limits it keeps under.

Facts of the API itself (limits, statuses, payload sizes, waits) live in
:mod:`rp_jupyter.wire_rules`; environment variable names in :mod:`rp_jupyter.env_names`.
What is here is what this client chooses (reference/runpod-api.md sections 2 and 5 say why).
"""

from __future__ import annotations

from rp_jupyter.wire_rules import DOCUMENTED_RATE_LIMITS, RateLimit

DEFAULT_BASE_URL = "https://api.runpod.ai/v2"

# Timeouts (seconds).  Long-polls get their wait plus a margin on top of the read timeout.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
LONG_POLL_MARGIN = 15.0
# The OpenAI-compatible route holds a request open until the job's first token (a cold
# start included), then between tokens: each read may wait this long.
OPENAI_READ_TIMEOUT = 600.0

# Connection pools (see ``pools.py``): several small pools, each never holding more
# connections than it keeps alive.  Requests the server holds open (``?wait=`` long-polls,
# /runsync) have pools of their own, so they never delay the short ones.
POOL_SHARDS = 16
POOL_SIZE = 8
HELD_POOL_SHARDS = 64
HELD_POOL_SIZE = 8
KEEPALIVE_EXPIRY = 4.0

# Retries: 429, 5xx and connection errors, exponential backoff with equal jitter (a wait
# between half and all of the doubled delay: never an instant retry into the same 10 s
# rate-limit window, yet many clients still spread out).
MAX_RETRIES = 5
INITIAL_RETRY_DELAY = 0.2
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0

# Which operation's limit each HTTP route counts against: /status-sync shares /status's
# budget (the old docs list them together), the stricter reading.
LIMIT_GROUP = {"status-sync": "status"}

# The limits the client keeps under: the documented table, and for /retry and /health,
# which the reference gives no limit, the /cancel and /status figures, so that a loop over
# them stays polite.  (The local endpoint enforces only the documented table.)
CLIENT_RATE_LIMITS: dict[str, RateLimit] = {
    **{op: limit for op, limit in DOCUMENTED_RATE_LIMITS.items() if op not in LIMIT_GROUP},
    "retry": DOCUMENTED_RATE_LIMITS["cancel"],
    "health": DOCUMENTED_RATE_LIMITS["status"],
}

# Operations that may be sent again after an ambiguous failure (the request may have
# reached the server).  /run, /runsync and /retry are not: a second send could start a
# second job or a second attempt.  Nor is /stream: it hands each chunk out once, so chunks
# in an answer lost on the way back are gone; the follower records a gap instead.
SAFE_TO_REPEAT = frozenset({"status", "status-sync", "cancel", "health", "purge-queue"})
# Operations that create a job or an attempt: when one may have been accepted, say so.
SUBMIT_OPERATIONS = frozenset({"run", "runsync", "retry", "openai"})
# Per-job operations: a 404 there means the job, not the endpoint, is unknown.
JOB_OPERATIONS = frozenset({"status", "status-sync", "stream", "cancel", "retry"})
