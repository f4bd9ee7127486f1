"""Client-side rate and concurrency limits, per endpoint and operation.

A big fan-out waits here instead of meeting 429s: at most ``requests`` in any window of
``per_seconds``, and at most ``concurrency`` in flight.  The server counts a request when it
arrives, which the client cannot see: anywhere between sending it and reading the answer.
So a request counts from the moment it is let through until one window after its answer
(it is in flight, then in the sliding log), which holds however late the loop or the
network delivers it.  Waiters are served by priority, then arrival, so jobs nearest to
losing their result go first.  Runs on the engine's event loop only.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rp_jupyter.wire_rules import RateLimit

__all__ = ["OperationLimiter"]

WINDOW_MARGIN = 1.01  # the window we keep is 1% (plus SKEW) longer than the server's
SKEW = 0.01


class OperationLimiter:
    """Sliding-window rate limit plus a concurrency cap, with prioritised waiters.

    Example::

        limiter = OperationLimiter(RateLimit(100, 1.0, 20))
        async with limiter.slot(priority=0):
            await client.post(...)
    """

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._window = limit.per_seconds * WINDOW_MARGIN + SKEW
        self._done: deque[float] = deque()  # when recent requests were answered
        self._in_flight = 0
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self.waited = 0  # how many acquisitions had to wait (for benchmarks and tests)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @asynccontextmanager
    async def slot(self, priority: float = 0.0) -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, priority: float = 0.0) -> None:
        if not self._waiters and self._ready(time.monotonic()):
            self._take(time.monotonic())
            return
        self.waited += 1
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        self._pump()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted just as we were cancelled: give it back
            raise

    def release(self) -> None:
        """The request's answer is in (or it failed): it counts for one more window."""
        self._in_flight -= 1
        self._done.append(time.monotonic())
        self._pump()

    def _counted(self, now: float) -> int:
        while self._done and now - self._done[0] >= self._window:
            self._done.popleft()
        return len(self._done) + self._in_flight

    def _ready(self, now: float) -> bool:
        cap = self.limit.concurrency
        return self._counted(now) < self.limit.requests and (
            cap is None or self._in_flight < cap
        )

    def _take(self, now: float) -> None:
        self._in_flight += 1

    def _pump(self) -> None:
        now = time.monotonic()
        while self._waiters:
            future = self._waiters[0][2]
            if future.done():  # cancelled while waiting
                heapq.heappop(self._waiters)
                continue
            if not self._ready(now):
                break
            heapq.heappop(self._waiters)
            self._take(now)
            future.set_result(None)
        self._arm_timer(now)

    def _arm_timer(self, now: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiters or not self._done or self._counted(now) < self.limit.requests:
            return  # nothing waits, or only requests in flight hold them (release() pumps)
        delay = max(0.0, self._done[0] + self._window - now)
        self._timer = asyncio.get_running_loop().call_later(delay, self._pump)
