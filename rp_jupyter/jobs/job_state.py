"""The engine-side half of a :class:`~rp_jupyter.jobs.job.Job`: its state, and how changes
are published.

The engine thread is the only writer; readers block on the condition (sync) or await a
future resolved from the engine thread (async); subscribers (the UI layer) are called on
the engine thread after every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rp_jupyter.api.errors import RunpodError
from rp_jupyter.api.models import MISSING, JobStatus, StatusDocument

if TYPE_CHECKING:
    from rp_jupyter.jobs.backend import JobBackend

__all__ = ["JobEvent", "JobState", "Subscriber"]

log = logging.getLogger("rp_jupyter.jobs")

JobEvent = str
"""What changed: ``"status"``, ``"chunks"``, ``"progress"``, ``"final"``, ``"retry"``,
``"tracking"`` or ``"gap"`` (chunks may be missing from the stream)."""
Subscriber = Callable[[Any, JobEvent], None]


class JobState:
    """Status, timings, output and chunks of one job, with change notification."""

    def __init__(self, backend: JobBackend | None, *, status: JobStatus,
                 submitted_at: float | None, attempt: int) -> None:
        self.attempt = attempt
        self.status = status
        self.output: Any = MISSING
        self.error: Any = None
        self.progress: Any = None  # the latest progress update (never the output)
        self.delay_ms: int | None = None
        self.execution_ms: int | None = None
        self.worker_id: str | None = None
        self.submitted_at = submitted_at if submitted_at is not None else time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.tracking_error: Exception | None = None  # why following is failing, if it is
        self.final_cost: Any = None  # the Cost journaled with the final state
        self._backend = backend
        self._chunks: list[Any] = []
        self._stream_gap = False  # chunks of this attempt may be missing
        self._fatal: RunpodError | None = None
        self._cond = threading.Condition()
        self._version = 0
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._subscribers: list[Subscriber] = []
        self._watchers = 0

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(job, event)`` on every change (on the engine thread; keep it quick
        and never block on the job there).  Returns a function that unsubscribes."""
        with self._cond:
            self._subscribers.append(callback)
        self._watch(+1)
        done = False

        def unsubscribe() -> None:
            nonlocal done
            if done:
                return
            done = True
            with self._cond:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)
            self._watch(-1)

        return unsubscribe

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """While inside this block someone is looking at the job (a blocking cell shows it):
        the engine then sees it start and reads the worker's progress updates."""
        self._watch(+1)
        try:
            yield
        finally:
            self._watch(-1)

    def _watch(self, delta: int) -> None:
        with self._cond:
            self._watchers += delta
            watched = self._watchers > 0
        if delta > 0 and watched and self._backend is not None and not self.is_final:
            self._backend.watch(self)

    @property
    def watched(self) -> bool:
        return self._watchers > 0

    # -- updates (engine thread only) ------------------------------------------------

    def _apply_status(self, status: JobStatus, doc: StatusDocument | None = None) -> bool:
        """Record a non-final status; True if anything changed."""
        changed = False
        with self._cond:
            if status != self.status and not self.is_final:
                self.status = status
                changed = True
            if doc is not None:
                changed |= self._take_fields(doc)
            if status is JobStatus.IN_PROGRESS:
                self._seen_running()
        if changed:
            self._changed("status")
        return changed

    def _add_chunks(self, chunks: list[Any]) -> None:
        with self._cond:
            self._chunks.extend(chunks)
            if self.status is JobStatus.IN_QUEUE:
                self.status = JobStatus.IN_PROGRESS
                self._seen_running()
        self._changed("chunks")

    def _set_progress(self, progress: Any) -> bool:
        """A progress update (``/status`` said IN_PROGRESS with an ``output``); True if new."""
        with self._cond:
            if self.is_final or progress == self.progress:
                return False
            self.progress = progress
            if self.status is JobStatus.IN_QUEUE:
                self.status = JobStatus.IN_PROGRESS
                self._seen_running()
        self._changed("progress")
        return True

    def _seen_running(self) -> None:
        """The job runs: its clock starts when it left the queue (``delayTime`` after it was
        submitted, once the server said so), else now, when it was first seen running."""
        if self.delay_ms is not None:
            self.started_at = self.submitted_at + self.delay_ms / 1000
        elif self.started_at is None:
            self.started_at = time.time()

    def _open_gap(self) -> None:
        """Chunks of this attempt may be missing (a ``/stream`` answer was lost)."""
        with self._cond:
            if self._stream_gap:
                return
            self._stream_gap = True
        self._changed("gap")

    def _finish(self, status: JobStatus, doc: StatusDocument | None = None, *,
                chunks: list[Any] | None = None, stream_gap: bool | None = None) -> None:
        """The job is final.  ``chunks`` replaces the stream (reconciled from the output; a
        new list, so a reader part-way through the old one ends with what it had)."""
        with self._cond:
            if self.is_final:
                return
            if chunks is not None:
                self._chunks = list(chunks)
            if stream_gap is not None:
                self._stream_gap = stream_gap
            if doc is not None:
                self._take_fields(doc)
                if doc.output is not MISSING:
                    self.output = doc.output
                self.error = doc.error
            self.status = status
            self.finished_at = time.time()
            if self.delay_ms is not None:
                self.started_at = self.submitted_at + self.delay_ms / 1000
            self.tracking_error = None
        self._changed("final")

    def _restart(self, attempt: int) -> None:
        """A ``/retry`` was accepted: a fresh attempt under the same id."""
        with self._cond:
            self.attempt = attempt
            self.status = JobStatus.IN_QUEUE
            self.output, self.error, self.progress = MISSING, None, None
            self.delay_ms = self.execution_ms = None
            self.started_at = self.finished_at = None
            self.final_cost = None
            self.submitted_at = time.time()
            self._chunks = []
            self._stream_gap = False
        self._changed("retry")

    def _follow_with(self, backend: JobBackend) -> None:
        """A (new) follower takes the job on: an earlier fatal tracking error no longer holds."""
        with self._cond:
            self._backend = backend
            self._fatal = None

    def _set_tracking_error(self, error: Exception | None, *, fatal: bool = False) -> None:
        with self._cond:
            self.tracking_error = error
            if fatal and isinstance(error, RunpodError):
                self._fatal = error
        self._changed("tracking")

    def _take_fields(self, doc: StatusDocument) -> bool:
        before = (self.delay_ms, self.execution_ms, self.worker_id)
        self.delay_ms = doc.delay_ms if doc.delay_ms is not None else self.delay_ms
        self.execution_ms = doc.execution_ms if doc.execution_ms is not None else self.execution_ms
        self.worker_id = doc.worker_id or self.worker_id
        return before != (self.delay_ms, self.execution_ms, self.worker_id)

    def _changed(self, event: JobEvent) -> None:
        with self._cond:
            self._version += 1
            waiters, self._async_waiters = self._async_waiters, []
            subscribers = list(self._subscribers)
            self._cond.notify_all()
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop has closed
                pass
        for callback in subscribers:
            try:
                callback(self, event)
            except Exception:  # a broken subscriber must not stop tracking
                log.exception("job subscriber failed")

    async def _next_change(self, seen: int) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._version != seen:
                return
            self._async_waiters.append((loop, future))
        await future


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
