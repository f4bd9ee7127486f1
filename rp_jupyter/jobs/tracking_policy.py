"""The engine's tracking policy, in one place: how often it polls, how long it long-polls,
how it paces streams and backs off.  Facts of the API itself (retention, statuses, limits)
live in :mod:`rp_jupyter.wire_rules`."""

from __future__ import annotations

# Adaptive polling (when the server does not long-poll): fast at first, backing off while a
# job is quiet, reset on any activity.
POLL_INITIAL = 0.05
POLL_FACTOR = 1.5
POLL_MAX = 2.0

# Long-polls: how long one waits on the server, and how many one endpoint may hold at once
# (each holds one of the operation's concurrent slots; wire_rules.DOCUMENTED_RATE_LIMITS
# caps them).
LONG_POLL_WAIT_MS = 60_000
LONG_POLL_SLOTS = 256
# A long-poll that comes back sooner than this with nothing new means the server ignored
# ``?wait=``; after LONG_POLL_MISSES such answers the endpoint is polled instead.
LONG_POLL_EARLY = 0.5
# A watched job still in the queue: how long each /status-sync waits for it to start.
QUEUE_WATCH_WAIT_MS = 10_000
# A busy stream waits this long between /stream calls so its chunks arrive in batches:
# at most 10 requests a second per stream, a chunk waiting about half of it on the server
# (a panel shows ~10 frames a second); more when many jobs stream at once, so that all of
# them together use at most STREAM_RATE_SHARE of the /stream rate limit.
STREAM_PAUSE = 0.1
STREAM_RATE_SHARE = 0.5
LONG_POLL_MISSES = 2
# A watched running job whose stream is quiet reads /status this often (seconds): progress
# updates (runpod.serverless.progress_update) show only there.
PROGRESS_POLL_EVERY = 1.0

# While the server cannot be reached, keep trying, backing off up to this (seconds).
TRACKING_BACKOFF_MAX = 30.0

# Ownership leases in the journal are renewed this often (seconds).
LEASE_RENEW_EVERY = 10.0
# A follower that lost its job's lease may finish the /stream already on its way for this
# long (seconds), so chunks the server handed it are journaled as a gap, not dropped unseen.
HAND_OVER_GRACE = 0.5

# Replies read from an endpoint's OpenAI route, journaled under these modes.  Their stream
# is read once, by the process that asked: one cut by that process stopping is never
# followed again (the server cancels its job when the client hangs up).
REPLY_MODES = frozenset({"chat", "completion"})
# After a cancel, how long to wait for the server to confirm it stopped the reply's job.
REPLY_CANCEL_TIMEOUT = 10.0
