"""One process-wide ticker thread that refreshes every live panel about 20 times a second.

Job subscribers (on the engine thread) only mark a panel dirty; the ticker is the one
writer of each panel's widgets, so a burst of chunks costs one front-end update per tick,
never one per chunk.  Each panel also spends a :class:`MessageBudget`, which caps its
front-end messages whatever the number of widgets it changes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

__all__ = ["MessageBudget", "Ticker", "TickerClient", "ticker"]

log = logging.getLogger("rp_jupyter.notebook")

TICK_SECONDS = 0.05  # 20 ticks a second
MESSAGES_PER_SECOND = 20.0
MESSAGE_BURST = 3.0


class TickerClient(Protocol):
    def tick(self, now: float) -> bool:
        """Refresh if needed; return False to leave the ticker."""
        ...


class MessageBudget:
    """A token bucket: at most ``rate`` messages a second, in bursts of at most ``burst``.

    Example::

        budget = MessageBudget()
        if budget.take():
            widget.value = html
    """

    def __init__(self, rate: float = MESSAGES_PER_SECOND, burst: float = MESSAGE_BURST) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self, count: int = 1, now: float | None = None) -> bool:
        """Spend ``count`` messages if the budget allows it now."""
        self._refill(time.monotonic() if now is None else now)
        if self._tokens >= count:
            self._tokens -= count
            return True
        return False

    def spend(self, count: int = 1, now: float | None = None) -> None:
        """Record ``count`` messages sent regardless of the budget (a user's click, the final
        replacement): later ticks wait until the bucket refills."""
        self._refill(time.monotonic() if now is None else now)
        self._tokens -= count

    def available(self, now: float | None = None) -> int:
        self._refill(time.monotonic() if now is None else now)
        return int(self._tokens)


class Ticker:
    """Calls ``client.tick(now)`` every ``interval`` seconds for each registered client."""

    def __init__(self, interval: float = TICK_SECONDS) -> None:
        self.interval = interval
        self._clients: list[TickerClient] = []
        self._poked: set[int] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, client: TickerClient) -> None:
        """Register ``client`` (or, if it is registered, keep it for at least one more tick
        even if that tick says it is done: something changed meanwhile)."""
        with self._cond:
            if client in self._clients:
                self._poked.add(id(client))
                return
            self._clients.append(client)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="rp_jupyter-ticker", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def discard(self, client: TickerClient) -> None:
        with self._cond:
            if client in self._clients:
                self._clients.remove(client)

    def __contains__(self, client: object) -> bool:
        with self._cond:
            return client in self._clients

    def __len__(self) -> int:
        with self._cond:
            return len(self._clients)

    def _run(self) -> None:
        next_tick = time.monotonic()
        while True:
            with self._cond:
                while not self._clients:
                    self._cond.wait()
                    next_tick = time.monotonic()
                clients = list(self._clients)
            now = time.monotonic()
            for client in clients:
                with self._cond:
                    self._poked.discard(id(client))
                try:
                    keep = client.tick(now)
                except Exception:
                    log.exception("a live panel failed to refresh; it stops updating")
                    self.discard(client)
                    continue
                if not keep:
                    with self._cond:
                        if id(client) not in self._poked and client in self._clients:
                            self._clients.remove(client)
            next_tick += self.interval
            delay = next_tick - time.monotonic()
            if delay < 0:  # fell behind: skip ticks rather than run them back to back
                next_tick = time.monotonic()
                continue
            with self._cond:
                self._cond.wait(delay)


_TICKER: Ticker | None = None
_TICKER_LOCK = threading.Lock()


def ticker() -> Ticker:
    """The process-wide ticker (its thread starts with the first client)."""
    global _TICKER
    with _TICKER_LOCK:
        if _TICKER is None:
            _TICKER = Ticker()
        return _TICKER
