"""``Job``: a handle on one Runpod job, safe to use from any thread or event loop.

The engine thread is the only writer of a job's state; readers block on a condition (sync)
or await a future resolved from the engine thread (async).  Every change is also pushed to
subscribers (the UI layer), on the engine thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from rp_jupyter.api.errors import (
    InvalidRequestError,
    JobCancelledError,
    JobExpiredError,
    JobFailedError,
    JobTimedOutError,
    RunpodError,
    WaitTimeoutError,
)
from rp_jupyter.api.models import MISSING, JobStatus, StatusDocument

if TYPE_CHECKING:
    from rp_jupyter.api.request import JobRequest
    from rp_jupyter.jobs.runtime import EndpointRuntime

__all__ = ["Job", "JobEvent"]

JobEvent = str
"""What changed: ``"status"``, ``"chunks"``, ``"final"``, ``"retry"`` or ``"tracking"``."""
Subscriber = Callable[["Job", JobEvent], None]


class Job:
    """A Runpod job: its status, timings, streamed chunks and result.

    Returned by :meth:`Endpoint.run`, :meth:`Endpoint.run_sync` and :meth:`Endpoint.job`; the
    engine follows it until it is final whether or not anyone waits, and journals every
    chunk and the result.

    Example::

        job = endpoint.run({"prompt": "Tell me a story"})
        for token in job.stream():       # every chunk once, in order, even when called late
            print(token, end="")
        print(job.status, job.execution_ms)
        output = job.result()             # or: output = await job
    """

    def __init__(
        self,
        runtime: EndpointRuntime | None,
        *,
        job_id: str,
        endpoint_id: str,
        base_url: str,
        mode: str,
        input: Any,
        request: JobRequest | None = None,
        journal_key: int | None = None,
        status: JobStatus = JobStatus.IN_QUEUE,
        submitted_at: float | None = None,
        attempt: int = 1,
        source: str = "server",
    ) -> None:
        self.id = job_id
        self.endpoint_id = endpoint_id
        self.base_url = base_url
        self.mode = mode
        self.input = input
        self.source = source  # "server", or "journal" when read back without a request
        self.cached = False  # True when answered from the journal by cache="use"
        self.journal_key = journal_key
        self.attempt = attempt
        self.status = status
        self.output: Any = MISSING
        self.error: Any = None
        self.delay_ms: int | None = None
        self.execution_ms: int | None = None
        self.worker_id: str | None = None
        self.submitted_at = submitted_at if submitted_at is not None else time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.tracking_error: RunpodError | None = None  # why following is failing, if it is
        self._runtime = runtime
        self._request = request
        self._chunks: list[Any] = []
        self._fatal: RunpodError | None = None
        self._cond = threading.Condition()
        self._version = 0
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._subscribers: list[Subscriber] = []
        self._watchers = 0

    # -- reading -------------------------------------------------------------------------

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def chunks(self) -> list[Any]:
        """A copy of every chunk streamed so far (this attempt)."""
        with self._cond:
            return list(self._chunks)

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    def chunks_since(self, start: int) -> tuple[int, list[Any]]:
        """``(attempt, chunks[start:])`` read together, so a reader that keeps its place
        (a panel) copies only what is new and notices a retry (the attempt changes)."""
        with self._cond:
            return self.attempt, self._chunks[start:]

    @property
    def elapsed(self) -> float:
        """Wall-clock seconds from submission to the final state (or to now)."""
        return (self.finished_at or time.time()) - self.submitted_at

    @property
    def queue_seconds(self) -> float:
        """Time spent waiting for a worker: the server's ``delayTime`` once known, else live."""
        if self.delay_ms is not None:
            return self.delay_ms / 1000
        end = self.started_at or self.finished_at or time.time()
        return max(0.0, end - self.submitted_at)

    @property
    def run_seconds(self) -> float | None:
        """Time on the worker: the server's ``executionTime`` once known, else live."""
        if self.execution_ms is not None:
            return self.execution_ms / 1000
        if self.started_at is None:
            return None
        return max(0.0, (self.finished_at or time.time()) - self.started_at)

    @property
    def request(self) -> JobRequest | None:
        return self._request

    def result(self, timeout: float | None = None) -> Any:
        """Wait until the job is final; return its output or raise a :class:`JobError`.

        For a streaming handler whose final output is empty (no ``return_aggregate_stream``),
        the output is the list of streamed chunks.  ``timeout`` (seconds) bounds the wait
        and raises :class:`WaitTimeoutError`; the job itself goes on.
        """
        if not self.wait(timeout):
            raise WaitTimeoutError(
                f"job {self.id} is still {self.status} after {timeout:g} s",
                hint="call result() again, or cancel() it",
            )
        return self._outcome()

    async def aresult(self, timeout: float | None = None) -> Any:
        """Async twin of :meth:`result`."""
        if not await self.await_final(timeout):
            raise WaitTimeoutError(f"job {self.id} is still {self.status} after {timeout:g} s")
        return self._outcome()

    def __await__(self) -> Generator[Any, None, Any]:
        return self.aresult().__await__()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until final (True) or until ``timeout`` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.is_final or self._fatal is not None, timeout)

    async def await_final(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            version = self._version  # read first: a change after this wakes us at once
            if self.is_final or self._fatal is not None:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._next_change(version), remaining)
            except asyncio.TimeoutError:
                return False

    def stream(self, timeout: float | None = None) -> Iterator[Any]:
        """Yield every chunk of this attempt exactly once, in order, until the job is final.

        Starts from the first chunk even when called late.  ``timeout`` bounds each wait for
        the next chunk.  A ``retry()`` ends the stream of the attempt before it.
        """
        with self._cond:
            attempt, chunks = self.attempt, self._chunks
        index = 0
        self._watch(+1)
        try:
            while True:
                with self._cond:
                    ready = self._cond.wait_for(
                        lambda i=index: len(chunks) > i or self._stream_over(attempt), timeout
                    )
                    new = chunks[index:]
                    over = self._stream_over(attempt)
                if not ready:
                    raise WaitTimeoutError(f"no chunk from job {self.id} for {timeout:g} s")
                yield from new
                index += len(new)
                if over and index >= len(chunks):
                    self._raise_fatal(attempt)
                    return
        finally:
            self._watch(-1)

    async def astream(self) -> AsyncIterator[Any]:
        """Async twin of :meth:`stream`."""
        with self._cond:
            attempt, chunks = self.attempt, self._chunks
        index = 0
        self._watch(+1)
        try:
            while True:
                with self._cond:
                    version = self._version
                    new = chunks[index:]
                    over = self._stream_over(attempt)
                for chunk in new:
                    yield chunk
                index += len(new)
                if over and index >= len(chunks):
                    self._raise_fatal(attempt)
                    return
                if not new:
                    await self._next_change(version)
        finally:
            self._watch(-1)

    # -- acting --------------------------------------------------------------------------

    def refresh(self) -> Job:
        """Ask the server for the current status now (a final job has nothing to ask)."""
        if not self.is_final:
            self._runtime_or_raise().call(lambda rt: rt.refresh(self))
        return self

    async def arefresh(self) -> Job:
        if not self.is_final:
            await self._runtime_or_raise().acall(lambda rt: rt.refresh(self))
        return self

    def cancel(self) -> Job:
        """Cancel the job (a queued one is removed, a running one stopped)."""
        if not self.is_final:
            self._runtime_or_raise().call(lambda rt: rt.cancel(self))
        return self

    async def acancel(self) -> Job:
        if not self.is_final:
            await self._runtime_or_raise().acall(lambda rt: rt.cancel(self))
        return self

    def retry(self) -> Job:
        """Requeue a FAILED or TIMED_OUT job under the same id (``/retry``)."""
        self._check_retryable()
        self._runtime_or_raise().call(lambda rt: rt.retry(self))
        return self

    async def aretry(self) -> Job:
        self._check_retryable()
        await self._runtime_or_raise().acall(lambda rt: rt.retry(self))
        return self

    def rerun(self) -> Job:
        """Submit the same input and options again, as a new job."""
        return self._runtime_or_raise().call(lambda rt: rt.rerun(self))

    async def arerun(self) -> Job:
        return await self._runtime_or_raise().acall(lambda rt: rt.rerun(self))

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

    # -- display -------------------------------------------------------------------------

    def __repr__(self) -> str:
        short = self.id if len(self.id) <= 12 else self.id[:8] + "…"
        extra = " (from journal)" if self.cached or self.source == "journal" else ""
        return (f"<Job {short} endpoint={self.endpoint_id!r} status={self.status}"
                f" elapsed={self.elapsed:.1f}s{extra}>")

    # -- engine side (engine thread only) ------------------------------------------------

    def _apply_status(self, status: JobStatus, doc: StatusDocument | None = None) -> bool:
        """Record a non-final status; True if anything changed."""
        changed = False
        with self._cond:
            if status != self.status and not self.is_final:
                self.status = status
                changed = True
                if status is JobStatus.IN_PROGRESS and self.started_at is None:
                    self.started_at = time.time()
            if doc is not None:
                changed |= self._take_fields(doc)
        if changed:
            self._changed("status")
        return changed

    def _add_chunks(self, chunks: list[Any]) -> None:
        with self._cond:
            self._chunks.extend(chunks)
            if self.status is JobStatus.IN_QUEUE:
                self.status = JobStatus.IN_PROGRESS
                self.started_at = self.started_at or time.time()
        self._changed("chunks")

    def _finish(self, status: JobStatus, doc: StatusDocument | None = None) -> None:
        with self._cond:
            if self.is_final:
                return
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
            self.output, self.error = MISSING, None
            self.delay_ms = self.execution_ms = None
            self.started_at = self.finished_at = None
            self.submitted_at = time.time()
            self._chunks = []
        self._changed("retry")

    def _follow_with(self, runtime: EndpointRuntime) -> None:
        """A (new) follower takes the job on: an earlier fatal tracking error no longer holds."""
        with self._cond:
            self._runtime = runtime
            self._fatal = None

    def _set_tracking_error(self, error: RunpodError | None, *, fatal: bool = False) -> None:
        with self._cond:
            self.tracking_error = error
            if fatal:
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
                import logging

                logging.getLogger("rp_jupyter.jobs").exception("job subscriber failed")

    # -- helpers -------------------------------------------------------------------------

    async def _next_change(self, seen: int) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._version != seen:
                return
            self._async_waiters.append((loop, future))
        await future

    def _stream_over(self, attempt: int) -> bool:
        return attempt != self.attempt or self.is_final or self._fatal is not None

    def _raise_fatal(self, attempt: int) -> None:
        if self._fatal is not None and not self.is_final and attempt == self.attempt:
            raise self._fatal

    def _watch(self, delta: int) -> None:
        with self._cond:
            self._watchers += delta
            watched = self._watchers > 0
        if delta > 0 and watched and self._runtime is not None and not self.is_final:
            self._runtime.on_watched(self)

    @property
    def watched(self) -> bool:
        return self._watchers > 0

    def _outcome(self) -> Any:
        if self._fatal is not None and not self.is_final:
            raise self._fatal
        status = self.status
        if status is JobStatus.COMPLETED:
            output = None if self.output is MISSING else self.output
            if (output is None or output == []) and self._chunks:
                return list(self._chunks)
            return output
        if status is JobStatus.FAILED:
            raise JobFailedError(self.id, self.error, output=_present(self.output))
        if status is JobStatus.CANCELLED:
            raise JobCancelledError(self.id)
        if status is JobStatus.TIMED_OUT:
            raise JobTimedOutError(self.id)
        raise JobExpiredError(self.id)

    def _check_retryable(self) -> None:
        if self.status not in (JobStatus.FAILED, JobStatus.TIMED_OUT):
            raise InvalidRequestError(
                f"job {self.id} is {self.status}; only FAILED or TIMED_OUT jobs can be retried",
                hint="use job.rerun() to submit the same input again as a new job",
            )

    def _runtime_or_raise(self) -> EndpointRuntime:
        if self._runtime is None:
            raise InvalidRequestError(
                f"job {self.id} was read from the journal without an endpoint",
                hint="attach it with rp_jupyter.Endpoint(endpoint_id, ...).job(job_id)",
            )
        return self._runtime


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _present(value: Any) -> Any:
    return None if value is MISSING else value
