"""``EndpointRuntime``: the engine-side half of one endpoint (engine thread only).

It submits, attaches, cancels and retries; it owns what the engine has learnt about the
server (does it long-poll?), and it is the one place where a job's state is journaled and
then published, in that order, so nothing is shown that is not already on disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from rp_jupyter import formats
from rp_jupyter.api.errors import APIConnectionError, InvalidRequestError, JobNotFoundError
from rp_jupyter.api.models import MISSING, Health, JobStatus, StatusDocument
from rp_jupyter.api.redact import MASK
from rp_jupyter.api.request import JobRequest, build_request
from rp_jupyter.jobs._constants import (
    DEFAULT_TTL,
    LONG_POLL_EARLY,
    LONG_POLL_MISSES,
    LONG_POLL_SLOTS,
    RUN_RETENTION,
    RUNSYNC_RETENTION,
    STREAM_PAUSE,
    STREAM_RATE_SHARE,
)
from rp_jupyter.jobs.budget import admit
from rp_jupyter.jobs.cost import cost_from_record, final_cost
from rp_jupyter.jobs.job import Job
from rp_jupyter.jobs.journal_records import JobRecord
from rp_jupyter.jobs.session import session_of, settings
from rp_jupyter.jobs.tracker import follow, watch_owned, watch_progress, watch_queue

if TYPE_CHECKING:
    from rp_jupyter.api._constants import RateLimit
    from rp_jupyter.api.client import EndpointClient
    from rp_jupyter.jobs.engine import Engine

__all__ = ["EndpointRuntime", "job_from_record"]

log = logging.getLogger("rp_jupyter.jobs")
T = TypeVar("T")


async def _done(future: Future[T]) -> T:
    return await asyncio.wrap_future(future)


class EndpointRuntime:
    """Engine-side state and operations for one endpoint (see the module docstring)."""

    def __init__(
        self, engine: Engine, client: EndpointClient, rate_limits: dict[str, RateLimit] | None
    ) -> None:
        self.engine = engine
        self.client = client
        self.journal = engine.journal
        self.rate_limits = rate_limits
        self.endpoint_id = client.endpoint_id
        self.base_url = client.connection.base_url
        self.stream_supported = True
        self.status_sync_supported = True
        self.long_poll: bool | None = None  # None until the server has shown which
        self._long_poll_misses = 0
        self._long_poll_free = LONG_POLL_SLOTS
        self._followers: dict[str, asyncio.Task[None]] = {}
        self._queue_watchers: dict[str, asyncio.Task[None]] = {}
        self._progress_watchers: dict[str, asyncio.Task[None]] = {}
        self._streaming: dict[str, float] = {}  # job id -> when it last brought chunks

    # -- the bridge used by Job ----------------------------------------------------------

    def call(self, fn: Callable[[EndpointRuntime], Awaitable[T]]) -> T:
        if self.engine.on_engine_thread:  # before making a coroutine that would never run
            raise self.engine.blocking_call_error()
        return self.engine.call(_as_coro(fn(self)))

    async def acall(self, fn: Callable[[EndpointRuntime], Awaitable[T]]) -> T:
        return await self.engine.acall(_as_coro(fn(self)))

    # -- submitting and attaching --------------------------------------------------------

    async def submit(
        self, request: JobRequest, *, mode: str = "run", wait_ms: int | None = None,
        cache: str = "off",
    ) -> Job:
        """Journal the request, send it, and start following the job."""
        if cache == "use":
            record = self.journal.find_reusable(self.base_url, self.endpoint_id,
                                                request.request_hash)
            if record is not None:
                job = job_from_record(record, self)
                job.cached = True
                return job
        session = session_of(self.engine)
        admit(session, self.endpoint_id, self.base_url, journal=self.journal)
        key = await _done(self.journal.record_submitting(
            base_url=self.base_url, endpoint_id=self.endpoint_id, mode=mode,
            request=request.redacted, input_hash=request.input_hash,
            request_hash=request.request_hash, origin=settings.origin,
        ))
        sent_at = time.time()
        try:
            if mode == "runsync":
                doc = await self.client.runsync(request.encoded, wait_ms=wait_ms,
                                                secrets=request.secrets)
            else:
                doc = await self.client.run(request.encoded, secrets=request.secrets)
        except BaseException as exc:
            maybe_sent = isinstance(exc, asyncio.CancelledError) or (
                isinstance(exc, APIConnectionError) and exc.maybe_sent
            )
            reason = self.client.redactor.text(str(exc) or type(exc).__name__)
            written = self.journal.record_submit_failed(key, reason, maybe_sent=maybe_sent)
            if not isinstance(exc, asyncio.CancelledError):
                await _done(written)  # on disk before the caller hears of it
            raise
        await _done(self.journal.record_submitted(key, doc.id, doc.status.value, sent_at))
        job = Job(self, job_id=doc.id, endpoint_id=self.endpoint_id, base_url=self.base_url,
                  mode=mode, input=request.redacted["input"], request=request, journal_key=key,
                  status=doc.status if not doc.status.is_final else JobStatus.IN_PROGRESS,
                  submitted_at=sent_at)
        self._register(job)
        session.track(job)
        if doc.status.is_final:
            await self.complete(job, doc)
        else:
            job._apply_status(doc.status, doc)
            self.note_progress(job, doc)
            self.follow(job)
        return job

    async def attach(self, job_id: str) -> Job:
        """A handle on an existing job: from memory, from the journal, or from the server."""
        existing = self.engine.jobs.get((self.base_url, self.endpoint_id, job_id))
        if existing is not None:
            return existing
        record = self.journal.find(job_id, endpoint_id=self.endpoint_id, base_url=self.base_url)
        if record is not None and record.final:
            return job_from_record(record, self)
        if record is not None:
            claimed = await _done(self.journal.claim_orphans(
                base_url=self.base_url, endpoint_id=self.endpoint_id, job_id=job_id))
            existing = self.engine.jobs.get((self.base_url, self.endpoint_id, job_id))
            if existing is not None:  # adopted by this process meanwhile
                return existing
            job = job_from_record(record, self)
            self._register(job)
            if claimed or record.job_id is None:
                self.follow(job)
            else:  # another live process follows it: watch the status only
                self.engine.spawn(watch_owned(self, job))
            return job
        doc = await self.client.status(job_id)
        key = await _done(self.journal.record_attached(
            base_url=self.base_url, endpoint_id=self.endpoint_id, job_id=job_id,
            status=doc.status.value))
        job = Job(self, job_id=job_id, endpoint_id=self.endpoint_id, base_url=self.base_url,
                  mode="run", input=None, journal_key=key, status=JobStatus.IN_QUEUE)
        self._register(job)
        if doc.status.is_final:
            await self.complete(job, doc)
        else:
            job._apply_status(doc.status, doc)
            self.note_progress(job, doc)
            self.follow(job)
        return job

    async def adopt_orphans(self) -> None:
        """Claim and follow this endpoint's jobs left unfinished by stopped processes."""
        keys = await _done(self.journal.claim_orphans(base_url=self.base_url,
                                                      endpoint_id=self.endpoint_id))
        for key in keys:
            record = self.journal.get(key)
            if record is not None and record.job_id is not None:
                self.adopt(record)

    def adopt(self, record: JobRecord) -> Job:
        """Follow a journaled job that this process has just claimed (engine thread)."""
        job = self.engine.jobs.get((self.base_url, self.endpoint_id, record.job_id or ""))
        if job is None:
            job = job_from_record(record, self)
            self._register(job)
        self.follow(job)
        return job

    # -- actions -------------------------------------------------------------------------

    async def refresh(self, job: Job) -> None:
        doc = await self.client.status(job.id)
        if doc.status.is_final:
            await self.complete(job, doc)
        else:
            self.note_status(job, doc.status, doc)

    async def cancel(self, job: Job) -> None:
        doc = await self.client.cancel(job.id)
        if doc.status is JobStatus.CANCELLED:
            await self.complete(job, doc)

    async def retry(self, job: Job) -> None:
        doc = await self.client.retry(job.id)
        attempt = job.attempt + 1
        if job.journal_key is not None:
            attempt = await _done(self.journal.record_retry(job.journal_key, doc.status.value))
        job._restart(attempt)
        job._apply_status(doc.status, doc)
        session_of(self.engine).track(job)
        self.follow(job)

    async def rerun(self, job: Job) -> Job:
        request = job.request or _rebuild_request(job)
        return await self.submit(request, mode=job.mode)

    async def health(self) -> Health:
        return await self.client.health()

    async def purge_queue(self) -> int:
        return await self.client.purge_queue()

    # -- following (engine thread) -------------------------------------------------------

    def follow(self, job: Job) -> None:
        task = self._followers.get(job.id)
        if task is not None and not task.done():
            return
        job._follow_with(self)
        self._followers[job.id] = self.engine.spawn(follow(self, job))
        if job.watched:
            self._watch(job)

    def on_watched(self, job: Job) -> None:
        """Someone is looking (any thread): make sure the queue→running change and the
        worker's progress updates are seen."""
        self.engine.loop.call_soon_threadsafe(self._watch, job)

    def _watch(self, job: Job) -> None:
        if job.is_final:
            return
        task = self._progress_watchers.get(job.id)
        if task is None or task.done():
            task = self._progress_watchers[job.id] = self.engine.spawn(watch_progress(self, job))
            task.add_done_callback(lambda done, job_id=job.id: self._forget(job_id, done))
        if job.status is not JobStatus.IN_QUEUE or not self.status_sync_supported:
            return
        task = self._queue_watchers.get(job.id)
        if task is None or task.done():
            self._queue_watchers[job.id] = self.engine.spawn(watch_queue(self, job))

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._progress_watchers.get(job_id) is task:
            del self._progress_watchers[job_id]

    def take_long_poll_slot(self) -> bool:
        if self.long_poll is False or self._long_poll_free <= 0:
            return False
        self._long_poll_free -= 1
        return True

    def release_long_poll_slot(self) -> None:
        self._long_poll_free += 1

    def observe_long_poll(self, elapsed: float, eventful: bool) -> None:
        """Learn whether the server honours ``?wait=`` from how long quiet answers took."""
        if eventful:
            return
        if elapsed >= LONG_POLL_EARLY:
            self.long_poll, self._long_poll_misses = True, 0
        elif self.long_poll is None:
            self._long_poll_misses += 1
            if self._long_poll_misses >= LONG_POLL_MISSES:
                self.long_poll = False
                log.info("%s does not long-poll /stream; polling instead", self.client.url)

    def stream_pause(self) -> float:
        """Seconds a busy stream waits between ``/stream`` calls (see STREAM_PAUSE)."""
        now = time.monotonic()
        for job_id, last in list(self._streaming.items()):
            if now - last > 1.0:
                del self._streaming[job_id]
        limit = self.client.limiters["stream"].limit
        budget = STREAM_RATE_SHARE * limit.requests / limit.per_seconds
        return max(STREAM_PAUSE, len(self._streaming) / budget)

    def priority(self, job: Job) -> float:
        """Lower goes first: the time by which the server may forget the job."""
        window = RUNSYNC_RETENTION if job.mode == "runsync" else RUN_RETENTION
        ttl = ((job.request.body.get("policy") or {}).get("ttl") if job.request else None)
        if ttl:
            window = min(window, ttl / 1000)
        return job.submitted_at + window

    def gone_by(self, job: Job) -> float:
        """The Unix time after which the server cannot know ``job`` any more."""
        if job.request is not None:
            policy = job.request.body.get("policy") or {}
        else:
            record = self.journal.get(job.journal_key) if job.journal_key is not None else None
            policy = (record.request.get("policy") if record else None) or {}
        ttl = policy["ttl"] / 1000 if policy.get("ttl") else DEFAULT_TTL
        return job.submitted_at + ttl + RUN_RETENTION

    def release(self, job: Job) -> None:
        if job.journal_key is not None:
            self.journal.release(job.journal_key)

    # -- journal first, then publish -----------------------------------------------------

    async def store_chunks(self, job: Job, chunks: list[Any]) -> None:
        self._streaming[job.id] = time.monotonic()
        if job.journal_key is not None:
            try:
                await _done(self.journal.append_chunks(job.journal_key, job.attempt,
                                                       job.chunk_count, chunks))
            except Exception:
                log.exception("could not journal chunks of job %s", job.id)
        job._add_chunks(chunks)

    def note_status(self, job: Job, status: JobStatus, doc: StatusDocument | None = None) -> bool:
        """A non-final status (and any progress update it carries); True if anything changed."""
        changed = job._apply_status(status, doc)
        if changed and job.journal_key is not None:
            self.journal.record_status(job.journal_key, status.value, {
                "started_at": job.started_at, "delay_ms": job.delay_ms,
                "worker_id": job.worker_id})
        if doc is not None:
            changed |= self.note_progress(job, doc)
        return changed

    def note_progress(self, job: Job, doc: StatusDocument, *, journal: bool = True) -> bool:
        """``/status`` answered IN_PROGRESS with an ``output``: that is a progress update
        (``runpod.serverless.progress_update``), kept as ``job.progress`` and journaled as an
        event, never taken for the result.  True if it is new."""
        progress = doc.output
        if (doc.status is not JobStatus.IN_PROGRESS or progress is MISSING
                or progress is None or progress == [] or progress == job.progress):
            return False
        if journal and job.journal_key is not None:
            self.journal.record_progress(job.journal_key, progress)
        return job._set_progress(progress)

    def last_chunks_at(self, job: Job) -> float | None:
        """When (``time.monotonic()``) the job's stream last brought chunks, if lately."""
        return self._streaming.get(job.id)

    async def finish_from_status(self, job: Job, seen: JobStatus) -> None:
        """``/stream`` said final: read the final document (output, timings) from ``/status``."""
        try:
            doc = await self.client.status(job.id, priority=self.priority(job))
        except JobNotFoundError:
            doc = StatusDocument(id=job.id, status=seen)
        if doc.status.is_final:
            await self.complete(job, doc)
        else:
            self.note_status(job, doc.status, doc)

    async def complete(self, job: Job, doc: StatusDocument) -> None:
        """Journal the final document, then publish it."""
        if job.is_final:
            return
        if (doc.status is JobStatus.COMPLETED and job.mode == "runsync"
                and doc.output in (MISSING, []) and job.chunk_count == 0):
            await self._drain_stream(job)
        cost = final_cost(job, doc)
        if job.journal_key is not None:
            output_json = None if doc.output is MISSING else json.dumps(doc.output)
            delay = doc.delay_ms if doc.delay_ms is not None else job.delay_ms
            started = job.submitted_at + delay / 1000 if delay is not None else job.started_at
            fields = {"delay_ms": delay, "execution_ms": doc.execution_ms,
                      "worker_id": doc.worker_id or job.worker_id, "error": doc.error,
                      "finished_at": time.time(), "started_at": started,
                      **cost.journal_fields()}
            preview = None if doc.output is MISSING else formats.output_preview(doc.output)
            await _done(self.journal.record_final(job.journal_key, doc.status.value, fields,
                                                  output_json, preview))
        job.final_cost = cost
        job._finish(doc.status, doc)
        session_of(self.engine).settle()

    def finish_from_record(self, job: Job, record: JobRecord) -> None:
        """End ``job`` as the journal has it (another process followed it to the end)."""
        stored = record.chunks() if record.attempt == job.attempt else []
        if len(stored) > job.chunk_count:
            job._add_chunks(stored[job.chunk_count:])
        output = record.output()
        job.final_cost = cost_from_record(record)
        job._finish(JobStatus.parse(record.status), StatusDocument(
            id=job.id, status=JobStatus.parse(record.status), delay_ms=record.delay_ms,
            execution_ms=record.execution_ms, worker_id=record.worker_id, output=output,
            error=record.error))

    async def expire(self, job: Job) -> None:
        if job.journal_key is not None:
            await _done(self.journal.record_final(
                job.journal_key, JobStatus.EXPIRED.value,
                {"note": "the server no longer knows this job; its result was never fetched",
                 "finished_at": time.time()}, None))
        job._finish(JobStatus.EXPIRED)

    async def _drain_stream(self, job: Job) -> None:
        try:
            batch = await self.client.stream(job.id)
        except Exception:
            return
        if batch.chunks:
            await self.store_chunks(job, batch.chunks)

    def _register(self, job: Job) -> None:
        self.engine.jobs[(self.base_url, self.endpoint_id, job.id)] = job


def job_from_record(record: JobRecord, runtime: EndpointRuntime | None) -> Job:
    """A :class:`Job` rebuilt from the journal: final ones need no request at all."""
    job = Job(runtime, job_id=record.job_id or f"(unsent #{record.key})",
              endpoint_id=record.endpoint_id, base_url=record.base_url, mode=record.mode,
              input=record.input, journal_key=record.key, attempt=record.attempt,
              status=JobStatus.IN_QUEUE, submitted_at=record.submitted_at or record.created_at,
              source="journal" if record.final else "server")
    job._chunks = record.chunks()
    job.delay_ms, job.execution_ms, job.worker_id = (record.delay_ms, record.execution_ms,
                                                     record.worker_id)
    job.started_at = record.started_at
    status = JobStatus.parse(record.status)
    if record.final:
        job.output = record.output()
        job.error = record.error
        job.status = status if status.is_final else JobStatus.EXPIRED
        job.finished_at = record.finished_at or record.updated_at
        job.final_cost = cost_from_record(record)
    else:
        job.status = status if status in (JobStatus.IN_QUEUE, JobStatus.IN_PROGRESS) else (
            JobStatus.IN_QUEUE)
        job.progress = record.journal.latest_progress(record.key)
    return job


def _rebuild_request(job: Job) -> JobRequest:
    record = job.journal_key is not None and job._runtime and job._runtime.journal.get(
        job.journal_key)
    body = record.request if record else {"input": job.input}
    if "s3Config" in body or MASK in json.dumps(body):
        raise InvalidRequestError(
            f"job {job.id} was sent with secrets (Secret values or s3_config), which are "
            "never kept, so it cannot be sent again from the journal",
            hint="submit it again with endpoint.run(...), giving the secrets again",
        )
    policy = body.get("policy") or {}
    return build_request(
        body.get("input"), webhook=body.get("webhook"),
        execution_timeout=policy["executionTimeout"] / 1000 if "executionTimeout" in policy
        else None,
        ttl=policy["ttl"] / 1000 if "ttl" in policy else None,
        low_priority=policy.get("lowPriority"), sync=job.mode == "runsync",
    )


async def _as_coro(awaitable: Awaitable[T]) -> T:
    return await awaitable
