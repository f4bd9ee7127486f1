"""Following one job to its end: chunks as they are made, the final document at once.

The follower long-polls ``/stream?wait=`` (one request per burst of chunks, and one that
returns the moment the job is final), then reads the final document from ``/status``.  When
the server ignores ``?wait=`` (found out once per endpoint) it polls instead: fast at first,
backing off while the job is quiet, reset on activity.  A watched job still in the queue also
long-polls ``/status-sync`` so the panel sees it start.  Network trouble never drops a job:
the follower keeps trying with backoff; only a 404 (the server forgot it) ends it early.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

from rp_jupyter.api.errors import (
    AuthenticationError,
    BadRequestError,
    EndpointNotFoundError,
    JobNotFoundError,
    RunpodError,
)
from rp_jupyter.api.models import JobStatus, StatusDocument
from rp_jupyter.jobs._constants import (
    LONG_POLL_WAIT_MS,
    POLL_FACTOR,
    POLL_INITIAL,
    POLL_MAX,
    PROGRESS_POLL_EVERY,
    QUEUE_WATCH_WAIT_MS,
    TRACKING_BACKOFF_MAX,
)

if TYPE_CHECKING:
    from rp_jupyter.jobs.job import Job
    from rp_jupyter.jobs.runtime import EndpointRuntime

__all__ = ["follow", "watch_owned", "watch_progress", "watch_queue"]


async def follow(runtime: EndpointRuntime, job: Job) -> None:
    """Track ``job`` until it is final, journaling every chunk and the final document."""
    interval, failures = POLL_INITIAL, 0
    if time.time() > runtime.gone_by(job):  # e.g. adopted long after its process stopped
        await runtime.expire(job)
        return
    streaming = False
    while not job.is_final:
        try:
            if runtime.stream_supported:
                pause = runtime.stream_pause() if streaming else 0.0
                active = streaming = await _stream_step(runtime, job, interval, pause)
            else:
                active = await _status_step(runtime, job, interval)
        except JobNotFoundError:
            await runtime.expire(job)
            return
        except BadRequestError as exc:
            if runtime.stream_supported:  # e.g. "Stream not supported" for plain handlers
                runtime.stream_supported = False
                continue
            job._set_tracking_error(exc, fatal=True)
            runtime.release(job)
            return
        except (AuthenticationError, EndpointNotFoundError) as exc:
            job._set_tracking_error(exc, fatal=True)
            runtime.release(job)
            return
        except RunpodError as exc:  # unreachable, 5xx, 429 after retries: keep the job
            if time.time() > runtime.gone_by(job):  # ... while the server can still have it
                await runtime.expire(job)
                return
            failures += 1
            job._set_tracking_error(exc)
            await asyncio.sleep(_backoff(failures))
            continue
        if failures:
            failures = 0
            job._set_tracking_error(None)
        interval = POLL_INITIAL if active else min(interval * POLL_FACTOR, POLL_MAX)


async def _stream_step(
    runtime: EndpointRuntime, job: Job, interval: float, pause: float
) -> bool:
    """One ``/stream`` call; True if it brought chunks or news.  ``pause`` lets a busy
    stream's chunks gather on the server first, so a fast stream costs a few requests a
    second rather than one per chunk."""
    if pause:
        await asyncio.sleep(pause)
    long_poll = runtime.take_long_poll_slot()
    try:
        if not long_poll:
            await asyncio.sleep(interval)
        started = time.monotonic()
        batch = await runtime.client.stream(
            job.id, wait_ms=LONG_POLL_WAIT_MS if long_poll else None, priority=runtime.priority(job)
        )
        elapsed = time.monotonic() - started
    finally:
        if long_poll:
            runtime.release_long_poll_slot()
    changed = batch.status != job.status and batch.status is not JobStatus.IN_QUEUE
    if long_poll:
        runtime.observe_long_poll(elapsed, bool(batch.chunks) or changed or batch.status.is_final)
    if batch.chunks:
        await runtime.store_chunks(job, batch.chunks)
    if batch.status.is_final:
        if not batch.chunks:  # drained: now the final document
            await runtime.finish_from_status(job, batch.status)
        return True
    if changed:
        runtime.note_status(job, batch.status)
    return bool(batch.chunks) or changed


async def _status_step(runtime: EndpointRuntime, job: Job, interval: float) -> bool:
    await asyncio.sleep(interval)
    doc = await runtime.client.status(job.id, priority=runtime.priority(job))
    if doc.status.is_final:
        await runtime.complete(job, doc)
        return True
    return runtime.note_status(job, doc.status, doc)


async def watch_queue(runtime: EndpointRuntime, job: Job) -> None:
    """While a watched job waits in the queue, see it start (``/stream`` long-polls do not
    end on that change): one ``/status`` now, then ``/status-sync`` long-polls.

    A long-poll waits for a status other than the one the job had when it arrived, so a
    job that started between two requests is only seen when that wait ends: the waits are
    kept short (QUEUE_WATCH_WAIT_MS) to bound that.
    """
    try:
        doc: StatusDocument = await runtime.client.status(job.id, priority=runtime.priority(job))
    except RunpodError:
        return  # the follower has it covered
    if doc.status is not JobStatus.IN_QUEUE:
        if not (doc.status.is_final or job.is_final):
            runtime.note_status(job, doc.status, doc)
        return
    while job.status is JobStatus.IN_QUEUE and not job.is_final and runtime.status_sync_supported:
        started = time.monotonic()
        try:
            doc = await runtime.client.status_sync(
                job.id, wait_ms=QUEUE_WATCH_WAIT_MS, priority=runtime.priority(job)
            )
        except RunpodError:
            return
        if doc.status.is_final or job.is_final:
            return
        if doc.status is not JobStatus.IN_QUEUE:
            runtime.note_status(job, doc.status, doc)
            return
        if time.monotonic() - started < 0.5:  # no long-poll here; the follower will see it
            runtime.status_sync_supported = False
            return


async def watch_progress(runtime: EndpointRuntime, job: Job) -> None:
    """While a watched job runs, read ``/status`` now and then: a worker's progress updates
    (``runpod.serverless.progress_update``) show only there.  Skipped while chunks flow,
    and when the follower polls ``/status`` anyway (handlers that cannot stream)."""
    while job.watched and not job.is_final:
        await asyncio.sleep(PROGRESS_POLL_EVERY)
        if job.is_final or not job.watched:
            return
        if job.status is not JobStatus.IN_PROGRESS or not runtime.stream_supported:
            continue
        streamed = runtime.last_chunks_at(job)
        if streamed is not None and time.monotonic() - streamed < PROGRESS_POLL_EVERY:
            continue
        try:
            doc = await runtime.client.status(job.id, priority=runtime.priority(job))
        except JobNotFoundError:
            return  # the follower notices and ends the job
        except RunpodError:
            continue  # the follower reports trouble; try again on the next round
        if not doc.status.is_final and not job.is_final:
            runtime.note_status(job, doc.status, doc)


async def watch_owned(runtime: EndpointRuntime, job: Job) -> None:
    """Another live process follows ``job`` (and journals it): mirror its status here, read
    the end from the journal, and take the job over if that process stops."""
    journal, failures = runtime.journal, 0
    while not job.is_final:
        record = journal.get(job.journal_key) if job.journal_key is not None else None
        if record is not None and record.final:
            runtime.finish_from_record(job, record)
            return
        claimed = await asyncio.wrap_future(journal.claim_orphans(
            base_url=runtime.base_url, endpoint_id=runtime.endpoint_id, job_id=job.id))
        if claimed:
            runtime.follow(job)
            return
        try:
            doc = await runtime.client.status(job.id, priority=runtime.priority(job))
        except JobNotFoundError:
            doc = None  # the owner notices too and journals the end
        except RunpodError as exc:
            failures += 1
            job._set_tracking_error(exc)
            await asyncio.sleep(_backoff(failures))
            continue
        running = doc is not None and not doc.status.is_final
        if running:
            job._apply_status(doc.status, doc)  # the owner journals it
            runtime.note_progress(job, doc, journal=False)
        await asyncio.sleep(POLL_MAX if running else POLL_INITIAL * 4)


def _backoff(failures: int) -> float:
    ceiling = min(TRACKING_BACKOFF_MAX, 0.5 * 2 ** (failures - 1))
    return random.uniform(ceiling / 2, ceiling)
