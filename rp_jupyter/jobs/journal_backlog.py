"""``JournalBacklog``: journal writes that failed (a full disk, a lock held past the busy
timeout), kept in order per job and written again until the journal takes them.

Following never waits on a journal that cannot take a write: the job is updated in
memory, and its writes queue here behind the failed one, so what reaches the disk later
is still in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

from rp_jupyter.jobs.backoff import backoff
from rp_jupyter.jobs.journal_ownership import LeaseLost

__all__ = ["JournalBacklog"]

log = logging.getLogger("rp_jupyter.jobs")

MakeWrite = Callable[[], "Future[Any]"]  # starts one journal write
REPLAY_BACKOFF_MAX = 5.0


class JournalBacklog:
    """See the module docstring.  Engine thread only.

    Example::

        written = await backlog.write(key, lambda: journal.append_chunks(key, 1, 0, chunks))
    """

    def __init__(self, spawn: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
        self._spawn = spawn
        self._pending: dict[int, deque[tuple[MakeWrite, str]]] = {}
        self._replaying = False

    @property
    def pending(self) -> int:
        """How many writes wait for the journal."""
        return sum(len(queue) for queue in self._pending.values())

    async def write(self, key: int, make: MakeWrite, what: str = "update") -> bool:
        """Write now, in order behind anything already waiting for record ``key``; True
        when it is on disk, False when it waits here.  :class:`LeaseLost` is raised."""
        if key in self._pending:
            self._pending[key].append((make, what))
            return False
        try:
            await asyncio.wrap_future(make())
            return True
        except LeaseLost:
            raise
        except Exception as exc:
            log.warning("could not journal the %s of record %d (%s); keeping it to write "
                        "when the journal recovers", what, key, exc)
            self._pending.setdefault(key, deque()).append((make, what))
            self._start_replay()
            return False

    def add(self, key: int, make: MakeWrite, what: str = "update") -> None:
        """Start a write that may be lost (a status between others, a progress update):
        behind the waiting writes of record ``key`` if there are any, else at once, with a
        failure only logged."""
        if key in self._pending:
            self._pending[key].append((make, what))
            return
        make().add_done_callback(lambda done: _log_failure(done, key, what))

    def _start_replay(self) -> None:
        if not self._replaying:
            self._replaying = True
            self._spawn(self._replay())

    async def _replay(self) -> None:
        failures = 0
        try:
            while self._pending:
                await asyncio.sleep(backoff(failures + 1, REPLAY_BACKOFF_MAX))
                progressed = False
                for key in list(self._pending):
                    queue = self._pending[key]
                    while queue:
                        make, _ = queue[0]
                        try:
                            await asyncio.wrap_future(make())
                        except LeaseLost:
                            queue.clear()  # another process owns the job now and writes it
                            break
                        except Exception:
                            break
                        queue.popleft()
                        progressed = True
                    if not queue:
                        del self._pending[key]
                failures = 0 if progressed else failures + 1
            log.info("the journal has taken every write that had waited for it")
        finally:
            self._replaying = False


def _log_failure(done: Future[Any], key: int, what: str) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.debug("could not journal the %s of record %d: %s", what, key, done.exception())
