"""``Follower``: one job's loop, from now to its end: chunks as they are made, the final
document at once.

The follower long-polls ``/stream?wait=`` (one request per burst of chunks, and one that
returns the moment the job is final), then reads the final document from ``/status``.  When
the server ignores ``?wait=`` (found out once per endpoint, see :mod:`server_traits`) it
polls instead: fast at first, backing off while the job is quiet, reset on activity.  While
someone looks at the job it also sees it start (``/status-sync`` long-polls) and reads the
worker's progress updates (``/status``).

Trouble never drops a job: any failure is logged, shown on the job (``tracking_error``)
and tried again with backoff.  Only a 404 (the server forgot it: EXPIRED) or a local
endpoint that stopped (its port refuses connections: LOST) ends it early.  A ``/stream``
answer lost after it may have been sent is never asked again unseen: its chunks are gone
from the server, so the job records a gap.  Everything the follower learns goes through
the :class:`~rp_jupyter.jobs.job_sink.JobSink`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from typing import TYPE_CHECKING

from rp_jupyter.api.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    EndpointNotFoundError,
    JobNotFoundError,
    RunpodError,
)
from rp_jupyter.api.models import MISSING, JobStatus, StatusDocument
from rp_jupyter.jobs.backoff import backoff
from rp_jupyter.jobs.journal_ownership import LeaseLost
from rp_jupyter.jobs.local_endpoints import has_stopped
from rp_jupyter.jobs.retention import gone_by, priority
from rp_jupyter.jobs.tracking_policy import (
    LONG_POLL_WAIT_MS,
    POLL_FACTOR,
    POLL_INITIAL,
    POLL_MAX,
    PROGRESS_POLL_EVERY,
    QUEUE_WATCH_WAIT_MS,
)

if TYPE_CHECKING:
    from rp_jupyter.api.client import EndpointClient
    from rp_jupyter.jobs.engine import Engine
    from rp_jupyter.jobs.job import Job
    from rp_jupyter.jobs.job_sink import JobSink
    from rp_jupyter.jobs.journal import JobJournal
    from rp_jupyter.jobs.server_traits import ServerTraits

__all__ = ["Follower", "Outcome", "complete"]

log = logging.getLogger("rp_jupyter.jobs")


class Outcome(enum.Enum):
    """How a follower's loop ended."""

    FINAL = "final"  # the job is final (in memory, and journaled when the journal could)
    STOPPED = "stopped"  # following cannot go on (key refused, endpoint gone): shown on the job
    LEASE_LOST = "lease lost"  # another process owns the job now: watch it instead


class Follower:
    """Follows one job to its end (see the module docstring).

    Example::

        outcome = await Follower(job, client=client, traits=traits, sink=sink,
                                 journal=journal, engine=engine).run()
    """

    def __init__(self, job: Job, *, client: EndpointClient, traits: ServerTraits,
                 sink: JobSink, journal: JobJournal, engine: Engine) -> None:
        self.job = job
        self.client = client
        self.traits = traits
        self.sink = sink
        self.journal = journal
        self.engine = engine
        self._queue_watch: asyncio.Task[None] | None = None
        self._progress_watch: asyncio.Task[None] | None = None
        self._handed_over = False

    def hand_over(self) -> None:
        """Another process owns the job now: send no new request; a ``/stream`` already
        on its way still ends, and chunks it brings are journaled as the new owner's gap
        (the server handed them out once, to this process)."""
        self._handed_over = True

    def _check_owner(self) -> None:
        if self._handed_over:
            raise LeaseLost(self.job.journal_key or 0)

    async def run(self) -> Outcome:
        """Track the job until it is final, publishing every chunk and the final document.
        No exception ends it silently: each is logged, shown on the job
        (``job.tracking_error``) and tried again after a backoff."""
        job = self.job
        try:
            if time.time() > gone_by(job, self.journal):  # e.g. adopted long after it ran
                await self.sink.expire(job)
                return Outcome.FINAL
            if job.watched:
                self.watch()
            return await self._loop()
        except LeaseLost:
            log.info("job %s is followed by another process now; watching it instead", job.id)
            return Outcome.LEASE_LOST
        finally:
            self._stop_watching()

    async def _loop(self) -> Outcome:
        job, traits = self.job, self.traits
        interval, failures = POLL_INITIAL, 0
        streaming = False
        while not job.is_final:
            try:
                self._check_owner()
                if traits.stream_supported:
                    pause = traits.stream_pause() if streaming else 0.0
                    active = streaming = await self._stream_step(interval, pause)
                else:
                    active = await self._status_step(interval)
            except JobNotFoundError:
                await self.sink.expire(job)
                return Outcome.FINAL
            except BadRequestError as exc:
                if traits.stream_supported:  # e.g. "Stream not supported" for plain handlers
                    traits.stream_supported = False
                    continue
                job._set_tracking_error(exc, fatal=True)
                return Outcome.STOPPED
            except (AuthenticationError, EndpointNotFoundError) as exc:
                job._set_tracking_error(exc, fatal=True)
                return Outcome.STOPPED
            except LeaseLost:
                raise
            except RunpodError as exc:  # unreachable, 5xx, 429 after retries: keep the job
                if time.time() > gone_by(job, self.journal):  # ... while the server has it
                    await self.sink.expire(job)
                    return Outcome.FINAL
                if isinstance(exc, APIConnectionError) and not exc.maybe_sent \
                        and await has_stopped(job.base_url):
                    log.warning("job %s: the local endpoint at %s stopped; the job is lost",
                                job.id, job.base_url)
                    await self.sink.lost(job)
                    return Outcome.FINAL
                failures += 1
                if failures == 1:
                    log.info("following job %s: %s; trying again", job.id,
                             str(exc).splitlines()[0])
                job._set_tracking_error(exc)
                await asyncio.sleep(backoff(failures))
                continue
            except Exception as exc:  # a journal in trouble, a reply of an unexpected shape
                failures += 1
                log.warning("following job %s failed (%s: %s); trying again", job.id,
                            type(exc).__name__, exc, exc_info=failures == 1)
                job._set_tracking_error(exc)
                await asyncio.sleep(backoff(failures))
                continue
            if failures:
                failures = 0
                job._set_tracking_error(None)
            interval = POLL_INITIAL if active else min(interval * POLL_FACTOR, POLL_MAX)
        return Outcome.FINAL

    async def _stream_step(self, interval: float, pause: float) -> bool:
        """One ``/stream`` call; True if it brought chunks or news.  ``pause`` lets a busy
        stream's chunks gather on the server first, so a fast stream costs a few requests a
        second rather than one per chunk."""
        job, traits = self.job, self.traits
        if pause:
            await asyncio.sleep(pause)
        long_poll = traits.take_long_poll_slot()
        try:
            if not long_poll:
                await asyncio.sleep(interval)
            self._check_owner()
            started = time.monotonic()
            try:
                batch = await self.client.stream(
                    job.id, wait_ms=LONG_POLL_WAIT_MS if long_poll else None,
                    priority=priority(job))
            except (APIConnectionError, APIStatusError) as exc:
                if exc.maybe_sent:  # the answer, with its chunks, may be lost
                    await self.sink.stream_gap(job, exc)
                raise
            elapsed = time.monotonic() - started
        finally:
            if long_poll:
                traits.release_long_poll_slot()
        changed = batch.status != job.status and batch.status is not JobStatus.IN_QUEUE
        if long_poll:
            traits.observe_long_poll(elapsed,
                                     bool(batch.chunks) or changed or batch.status.is_final)
        if batch.chunks:
            traits.note_chunks(job.id)
            await self.sink.chunks(job, batch.chunks)
        if batch.status.is_final:
            if not batch.chunks:  # drained: now the final document
                await self._finish_from_status(batch.status)
            return True
        if changed:
            self.sink.status(job, batch.status)
        return bool(batch.chunks) or changed

    async def _status_step(self, interval: float) -> bool:
        await asyncio.sleep(interval)
        self._check_owner()
        doc = await self.client.status(self.job.id, priority=priority(self.job))
        if doc.status.is_final:
            await complete(self.client, self.sink, self.job, doc)
            return True
        return self.sink.status(self.job, doc.status, doc)

    async def _finish_from_status(self, seen: JobStatus) -> None:
        """``/stream`` said final: read the final document (output, timings) from ``/status``."""
        try:
            doc = await self.client.status(self.job.id, priority=priority(self.job))
        except JobNotFoundError:
            doc = StatusDocument(id=self.job.id, status=seen)
        if doc.status.is_final:
            await complete(self.client, self.sink, self.job, doc)
        else:
            self.sink.status(self.job, doc.status, doc)

    # -- while someone is looking --------------------------------------------------------

    def watch(self) -> None:
        """Someone is looking (engine thread): make sure the queue→running change and the
        worker's progress updates are seen."""
        job = self.job
        if job.is_final:
            return
        if self._progress_watch is None or self._progress_watch.done():
            self._progress_watch = self.engine.spawn(self._watch_progress())
        if job.status is not JobStatus.IN_QUEUE or not self.traits.status_sync_supported:
            return
        if self._queue_watch is None or self._queue_watch.done():
            self._queue_watch = self.engine.spawn(self._watch_queue())

    def _stop_watching(self) -> None:
        for task in (self._queue_watch, self._progress_watch):
            if task is not None and not task.done():
                task.cancel()

    async def _watch_queue(self) -> None:
        """While a watched job waits in the queue, see it start (``/stream`` long-polls do not
        end on that change): one ``/status`` now, then ``/status-sync`` long-polls.

        A long-poll waits for a status other than the one the job had when it arrived, so a
        job that started between two requests is only seen when that wait ends: the waits are
        kept short (QUEUE_WATCH_WAIT_MS) to bound that.
        """
        job, traits = self.job, self.traits
        try:
            doc: StatusDocument = await self.client.status(job.id, priority=priority(job))
        except Exception:
            return  # the loop has it covered
        if doc.status is not JobStatus.IN_QUEUE:
            if not (doc.status.is_final or job.is_final):
                self.sink.status(job, doc.status, doc)
            return
        while (job.status is JobStatus.IN_QUEUE and not job.is_final
               and traits.status_sync_supported):
            started = time.monotonic()
            try:
                doc = await self.client.status_sync(
                    job.id, wait_ms=QUEUE_WATCH_WAIT_MS, priority=priority(job)
                )
            except Exception:
                return  # the loop has it covered
            if doc.status.is_final or job.is_final:
                return
            if doc.status is not JobStatus.IN_QUEUE:
                self.sink.status(job, doc.status, doc)
                return
            if time.monotonic() - started < 0.5:  # no long-poll here; the loop will see it
                traits.status_sync_supported = False
                return

    async def _watch_progress(self) -> None:
        """While a watched job runs, read ``/status`` now and then: a worker's progress updates
        (``runpod.serverless.progress_update``) show only there.  Skipped while chunks flow,
        and when the loop polls ``/status`` anyway (handlers that cannot stream)."""
        job, traits = self.job, self.traits
        while job.watched and not job.is_final:
            await asyncio.sleep(PROGRESS_POLL_EVERY)
            if job.is_final or not job.watched:
                return
            if job.status is not JobStatus.IN_PROGRESS or not traits.stream_supported:
                continue
            streamed = traits.last_chunks_at(job.id)
            if streamed is not None and time.monotonic() - streamed < PROGRESS_POLL_EVERY:
                continue
            try:
                doc = await self.client.status(job.id, priority=priority(job))
            except JobNotFoundError:
                return  # the loop notices and ends the job
            except Exception:
                continue  # the loop reports trouble; try again on the next round
            if not doc.status.is_final and not job.is_final:
                self.sink.status(job, doc.status, doc)


async def complete(client: EndpointClient, sink: JobSink, job: Job, doc: StatusDocument) -> None:
    """Publish a final document.  A ``/runsync`` answered COMPLETED with an empty output may
    still hold streamed chunks on the server: they are read first."""
    if job.is_final:
        return
    if (doc.status is JobStatus.COMPLETED and job.mode == "runsync"
            and doc.output in (MISSING, []) and job.chunk_count == 0):
        try:
            batch = await client.stream(job.id)
        except Exception as exc:
            batch = None
            if getattr(exc, "maybe_sent", False):
                await sink.stream_gap(job, exc)
        if batch is not None and batch.chunks:
            await sink.chunks(job, batch.chunks)
    await sink.final(job, doc)



