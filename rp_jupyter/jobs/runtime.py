"""``EndpointRuntime``: the engine-side half of one endpoint (engine thread only).

It submits, attaches, cancels and retries, and it implements the
:class:`~rp_jupyter.jobs.backend.JobBackend` its jobs call.  Each unfinished job gets one
tracking task: a :class:`~rp_jupyter.jobs.follower.Follower` while this process owns the
job, a :class:`~rp_jupyter.jobs.mirror.Mirror` while another live process does.  What is
learnt goes through the shared :class:`~rp_jupyter.jobs.job_sink.JobSink` (journal first,
then the job).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from rp_jupyter.api.errors import (
    APIConnectionError,
    APIStatusError,
    InvalidRequestError,
    RunpodError,
)
from rp_jupyter.api.models import Health, JobStatus
from rp_jupyter.api.redact import MASK
from rp_jupyter.api.request import JobRequest, build_request
from rp_jupyter.env_names import HOME_ENV
from rp_jupyter.jobs.backoff import backoff
from rp_jupyter.jobs.budget import admit
from rp_jupyter.jobs.chat_reply import ChatReply, stream_cut
from rp_jupyter.jobs.cost import cost_from_record
from rp_jupyter.jobs.follower import Follower, Outcome, complete
from rp_jupyter.jobs.job import Job
from rp_jupyter.jobs.journal_records import JobRecord
from rp_jupyter.jobs.local_endpoints import has_stopped
from rp_jupyter.jobs.mirror import Mirror
from rp_jupyter.jobs.server_traits import ServerTraits
from rp_jupyter.jobs.session import session_of, settings
from rp_jupyter.jobs.tracking_policy import HAND_OVER_GRACE, REPLY_MODES

if TYPE_CHECKING:
    from rp_jupyter.api.client import EndpointClient
    from rp_jupyter.api.models import StatusDocument
    from rp_jupyter.jobs.engine import Engine
    from rp_jupyter.jobs.job_sink import JobSink
    from rp_jupyter.jobs.journal import JobJournal
    from rp_jupyter.wire_rules import RateLimit

__all__ = ["EndpointRuntime", "job_from_record"]

log = logging.getLogger("rp_jupyter.jobs")
T = TypeVar("T")

JobKey = tuple[str, str, str]  # (base URL, endpoint id, job id)


async def _done(future: Future[T]) -> T:
    return await asyncio.wrap_future(future)


class EndpointRuntime:
    """Engine-side state and operations for one endpoint (see the module docstring)."""

    def __init__(
        self, engine: Engine, client: EndpointClient, rate_limits: dict[str, RateLimit] | None,
        *, journal: JobJournal, sink: JobSink, jobs: MutableMapping[JobKey, Job],
    ) -> None:
        self.engine = engine
        self.client = client
        self.journal = journal
        self.sink = sink
        self.rate_limits = rate_limits
        self.endpoint_id = client.endpoint_id
        self.base_url = client.connection.base_url
        self.traits = ServerTraits(client)
        self._jobs = jobs  # every live Job handle of this process, shared by all runtimes
        self._trackers: dict[str, asyncio.Task[None]] = {}
        self._followers: dict[str, Follower] = {}

    @property
    def long_poll(self) -> bool | None:
        """Whether the server long-polls ``/stream`` (None until it has shown which)."""
        return self.traits.long_poll

    # -- the JobBackend bridge -----------------------------------------------------------

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
                                                request.request_hash, request.cache_scope)
            if record is not None:
                job = job_from_record(record, self)
                job.cached = True
                return job
        session = session_of(self.engine)
        admit(session, self.endpoint_id, self.base_url, journal=self.journal)
        key = await self.journal_request(request, mode=mode)
        sent_at = time.time()
        try:
            if mode == "runsync":
                doc = await self.client.runsync(request.encoded, wait_ms=wait_ms,
                                                secrets=request.secrets)
            else:
                doc = await self.client.run(request.encoded, secrets=request.secrets)
        except BaseException as exc:
            maybe_sent = isinstance(exc, asyncio.CancelledError) or (
                isinstance(exc, (APIConnectionError, APIStatusError)) and exc.maybe_sent
            )
            error = self.client.redactor.text(str(exc) or type(exc).__name__)

            def failed() -> Future[None]:
                return self.journal.record_submit_failed(key, error, maybe_sent=maybe_sent)

            if isinstance(exc, asyncio.CancelledError):
                self.sink.backlog.add(key, failed, "submit failure")
            else:  # on disk before the caller hears of it (or kept until the journal recovers)
                await self.sink.backlog.write(key, failed, "submit failure")
            raise
        named = self.engine.spawn(self.sink.backlog.write(
            key, lambda: self.journal.record_submitted(key, doc.id, doc.status.value, sent_at),
            "job id"))
        if not doc.status.is_final:
            await named  # on disk before the caller hears of the job
        job = Job(self, job_id=doc.id, endpoint_id=self.endpoint_id, base_url=self.base_url,
                  mode=mode, input=request.redacted["input"], request=request, journal_key=key,
                  status=doc.status if not doc.status.is_final else JobStatus.IN_PROGRESS,
                  submitted_at=sent_at)
        self._register(job)
        session.track(job)
        if doc.status.is_final:
            # the id and the final document go to the journal together (the id's write
            # names the final status too, so either may land first)
            await self.complete(job, doc)
            await named
        else:
            job._apply_status(doc.status, doc)
            self.sink.progress(job, doc)
            self.follow(job)
        return job

    async def attach(self, job_id: str) -> Job:
        """A handle on an existing job: from memory, from the journal, or from the server."""
        existing = self._jobs.get((self.base_url, self.endpoint_id, job_id))
        if existing is not None:
            return existing
        record = self.journal.find(job_id, endpoint_id=self.endpoint_id, base_url=self.base_url)
        if record is not None and record.final:
            return job_from_record(record, self)
        if record is not None and record.mode in REPLY_MODES:  # its stream cannot be re-read
            claimed = await _done(self.journal.claim_orphans(
                base_url=self.base_url, endpoint_id=self.endpoint_id, job_id=job_id,
                mine_too=True))  # (adopted by this process meanwhile counts)
            job = self._jobs.get((self.base_url, self.endpoint_id, job_id)) or \
                job_from_record(record, self)
            if claimed and not job.is_final:  # its reader stopped: it ends where it was cut
                await self.sink.final(job, stream_cut(job))
            return job  # else another live process reads it: as the journal has it now
        if record is not None:
            if await has_stopped(self.base_url):  # it can never finish: say so at once
                job = job_from_record(record, self)
                await self.sink.lost(job)
                return job
            claimed = await _done(self.journal.claim_orphans(
                base_url=self.base_url, endpoint_id=self.endpoint_id, job_id=job_id))
            existing = self._jobs.get((self.base_url, self.endpoint_id, job_id))
            if existing is not None:  # adopted by this process meanwhile
                return existing
            job = job_from_record(record, self)
            self._register(job)
            # another live process follows it unless we just claimed it: mirror it then
            self.follow(job, mirrored=not (claimed or record.job_id is None))
            return job
        doc = await self.client.status(job_id)
        key = await _done(self.journal.record_attached(
            base_url=self.base_url, endpoint_id=self.endpoint_id, job_id=job_id,
            status=doc.status.value))
        job = Job(self, job_id=job_id, endpoint_id=self.endpoint_id, base_url=self.base_url,
                  mode="run", input=None, journal_key=key, status=JobStatus.IN_QUEUE)
        self._register(job)
        if not doc.status.is_final:
            job._apply_status(doc.status, doc)
            self.sink.progress(job, doc)
        self.follow(job)  # even when final: /stream may still hold chunks nobody has read
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
        """Follow a journaled job that this process has just claimed (engine thread); one
        whose local endpoint has stopped is lost at once."""
        job = self._jobs.get((self.base_url, self.endpoint_id, record.job_id or ""))
        if job is None:
            job = job_from_record(record, self)
            self._register(job)
        if record.mode in REPLY_MODES:  # its reader stopped: it ends where its stream was cut
            self.engine.spawn(self.sink.final(job, stream_cut(job)))
        else:
            self.engine.spawn(self._follow_unless_stopped(job))
        return job

    async def _follow_unless_stopped(self, job: Job) -> None:
        if await has_stopped(self.base_url):
            await self.sink.lost(job)
        else:
            self.follow(job)

    # -- actions (the JobBackend) --------------------------------------------------------

    async def refresh(self, job: Job) -> None:
        doc = await self.client.status(job.id)
        if doc.status.is_final:
            await self.complete(job, doc)
        else:
            self.sink.status(job, doc.status, doc)

    async def cancel(self, job: Job) -> None:
        doc = await self.client.cancel(job.id)
        if doc.status is JobStatus.CANCELLED:
            await self.complete(job, doc)

    async def journal_request(self, request: Any, *, mode: str,
                              job_id: str | None = None) -> int:
        """Journal a request about to be sent (a job's, or a reply's under the id the client
        chose); its record's key.  A journal that cannot take it stops it: nothing is sent."""
        try:
            return await _done(self.journal.record_submitting(
                base_url=self.base_url, endpoint_id=self.endpoint_id, mode=mode,
                request=request.redacted, input_hash=request.input_hash,
                request_hash=request.request_hash, job_id=job_id, origin=settings.origin,
            ))
        except Exception as exc:  # a full disk, a lock held too long: nothing is sent
            raise RunpodError(
                f"the journal {self.journal.path} could not record the request ({exc}); "
                "nothing was sent",
                hint="free some disk space (or let go of the journal elsewhere) and send it "
                f"again; {HOME_ENV} moves the journal to another folder") from None

    async def retry(self, job: Job) -> None:
        """Requeue ``job``; like a new job, refused (nothing sent) past the budget."""
        session = session_of(self.engine)
        session.settle()  # the attempt that ended is counted before the next one is judged
        admit(session, self.endpoint_id, self.base_url, journal=self.journal)
        doc = await self.client.retry(job.id)
        await self.sink.retried(job, doc)
        session.track(job)
        self.follow(job)

    async def rerun(self, job: Job) -> Job:
        request = job.request or _rebuild_request(job, self.journal)
        return await self.submit(request, mode=job.mode)

    def watch(self, job: Job) -> None:
        """Someone is looking (any thread): make sure the queue→running change and the
        worker's progress updates are seen."""
        self.engine.loop.call_soon_threadsafe(self._watch, job)

    async def health(self) -> Health:
        return await self.client.health()

    async def purge_queue(self) -> int:
        return await self.client.purge_queue()

    async def complete(self, job: Job, doc: StatusDocument) -> None:
        """Publish a final document (journal first, then the job)."""
        await complete(self.client, self.sink, job, doc)

    # -- tracking (engine thread) --------------------------------------------------------

    def follow(self, job: Job, *, mirrored: bool = False) -> None:
        """Track ``job`` to its end: follow it, or mirror it while another process does."""
        task = self._trackers.get(job.id)
        if task is not None and not task.done():
            return
        if not mirrored:
            job._follow_with(self)
        self._trackers[job.id] = self.engine.spawn(self._track(job, mirrored))

    async def _track(self, job: Job, mirrored: bool) -> None:
        """Follow ``job`` while this process owns it, mirror it while another one does."""
        failures = 0
        while not job.is_final:
            try:
                if mirrored:
                    if not await Mirror(job, client=self.client, sink=self.sink,
                                        journal=self.journal).run():
                        return
                    mirrored = False
                    self._catch_up(job)
                    job._follow_with(self)
                    continue
                follower = self._followers[job.id] = Follower(
                    job, client=self.client, traits=self.traits, sink=self.sink,
                    journal=self.journal, engine=self.engine)
                try:
                    outcome = await follower.run()
                finally:
                    if self._followers.get(job.id) is follower:
                        del self._followers[job.id]
                if outcome is Outcome.STOPPED:
                    self.release(job)
                    return
                mirrored = outcome is Outcome.LEASE_LOST
            except Exception as exc:  # never die silently: say so on the job, then go on
                failures += 1
                log.warning("tracking job %s failed (%s); trying again", job.id, exc,
                            exc_info=True)
                job._set_tracking_error(exc)
                await asyncio.sleep(backoff(failures))

    def _catch_up(self, job: Job) -> None:
        record = self.journal.get(job.journal_key) if job.journal_key is not None else None
        if record is not None:
            self.sink.catch_up(job, record)

    def followed(self) -> dict[int, Job]:
        """The jobs this process follows (owns) right now, by journal key."""
        return {f.job.journal_key: f.job for f in self._followers.values()
                if f.job.journal_key is not None and not f.job.is_final}

    def lease_lost(self, job: Job) -> None:
        """Another process has claimed ``job``: stop following it here and mirror it.

        The follower sends nothing more, but a ``/stream`` it already sent may hold chunks
        the server handed out to it alone (this process was paused past its lease, say):
        it gets :data:`HAND_OVER_GRACE` to end, so those chunks are read and the new owner's
        stream marked with a gap, rather than dropped unseen."""
        follower = self._followers.get(job.id)
        task = self._trackers.get(job.id)
        if follower is None or follower.job is not job or task is None or task.done():
            return
        follower.hand_over()
        self.engine.spawn(self._end_hand_over(job, follower, task))

    async def _end_hand_over(self, job: Job, follower: Follower, task: asyncio.Task) -> None:
        """Stop a follower still busy after its grace; the job is then mirrored."""
        await asyncio.sleep(HAND_OVER_GRACE)
        if self._followers.get(job.id) is not follower or task.done():
            return  # it ended by itself, and its tracker mirrors the job now
        log.info("job %s is followed by another process now; watching it instead", job.id)
        task.cancel()
        self._trackers[job.id] = self.engine.spawn(self._track(job, True))

    def _watch(self, job: Job) -> None:
        follower = self._followers.get(job.id)
        if follower is not None and follower.job is job:
            follower.watch()

    def release(self, job: Job) -> None:
        if job.journal_key is not None:
            self.journal.release(job.journal_key)

    def live_jobs(self) -> list[Job]:
        """This process's live job handles on this endpoint (any key or settings)."""
        return [job for (base_url, endpoint_id, _), job in list(self._jobs.items())
                if base_url == self.base_url and endpoint_id == self.endpoint_id]

    def _register(self, job: Job) -> None:
        self._jobs[(self.base_url, self.endpoint_id, job.id)] = job


def job_from_record(record: JobRecord, backend: Any, *,
                    handle: type[Job] | None = None) -> Job:
    """A :class:`Job` rebuilt from the journal: final ones need no request at all.  A reply
    read from an OpenAI route comes back as a :class:`ChatReply` (or as ``handle``)."""
    if handle is None:
        handle = ChatReply if record.mode in REPLY_MODES else Job
    job = handle(backend, job_id=record.job_id or f"(unsent #{record.key})",
              endpoint_id=record.endpoint_id, base_url=record.base_url, mode=record.mode,
              input=record.input, journal_key=record.key, attempt=record.attempt,
              status=JobStatus.IN_QUEUE, submitted_at=record.submitted_at or record.created_at,
              source="journal" if record.final else "server")
    job._chunks = record.chunks()
    job._stream_gap = record.stream_gap
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


def _rebuild_request(job: Job, journal: JobJournal) -> JobRequest:
    record = journal.get(job.journal_key) if job.journal_key is not None else None
    body: dict[str, Any] = record.request if record else {"input": job.input}
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
