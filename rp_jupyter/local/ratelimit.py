"""Per-operation rate limits: a sliding-window log plus an in-flight cap.

One :class:`RateLimiter` per endpoint; it reads the limits from the live settings on
every request, so changing ``settings.rate_limits`` or ``rate_scale`` takes effect at once.
A held long-poll counts against the concurrency cap until it answers.

Example::

    limiter = RateLimiter(lambda: {"run": RateLimit(2, 1.0, None)})
    slot = limiter.acquire("run")     # None when over the limit; see retry_after()
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from rp_jupyter.local.endpoint_settings import RateLimit


class Admission:
    """A request admitted by the limiter; ``release()`` when its response is done."""

    __slots__ = ("_limiter", "_op", "_released")

    def __init__(self, limiter: RateLimiter | None, op: str) -> None:
        self._limiter = limiter
        self._op = op
        self._released = False

    def release(self) -> None:
        if not self._released and self._limiter is not None:
            self._released = True
            self._limiter._in_flight[self._op] -= 1


class Rejection:
    """A request refused by the limiter, with the ``Retry-After`` seconds to send."""

    __slots__ = ("reason", "retry_after")

    def __init__(self, retry_after: int, reason: str) -> None:
        self.retry_after = retry_after
        self.reason = reason


class RateLimiter:
    """Sliding-window log per operation plus an in-flight counter for the concurrency cap."""

    def __init__(self, limits: Callable[[], dict[str, RateLimit]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._log: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}

    def acquire(self, op: str) -> Admission | Rejection:
        """Admit one request of ``op`` or say how long to wait."""
        limit = self._limits().get(op)
        if limit is None:
            return Admission(None, op)
        now = self._clock()
        log = self._log.setdefault(op, deque())
        horizon = now - limit.per_seconds
        while log and log[0] <= horizon:
            log.popleft()
        in_flight = self._in_flight.get(op, 0)
        if limit.concurrency is not None and in_flight >= limit.concurrency:
            return Rejection(1, f"too many concurrent {op} requests (limit {limit.concurrency})")
        if len(log) >= limit.requests:
            # the slot frees when the oldest request that still counts leaves the window
            oldest = log[len(log) - limit.requests]
            wait = max(1, math.ceil(oldest + limit.per_seconds - now))
            return Rejection(wait, f"rate limit exceeded for {op}: "
                                   f"{limit.requests} per {limit.per_seconds:g} s")
        log.append(now)
        self._in_flight[op] = in_flight + 1
        return Admission(self, op)

    def reset(self) -> None:
        """Forget the request history (the in-flight counts stay: those requests are live)."""
        self._log.clear()
