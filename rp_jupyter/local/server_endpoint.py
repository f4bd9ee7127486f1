"""One local endpoint's behaviour: jobs, queue, workers, retention, timeouts, health.

Everything here runs on the server's event loop.  Client routes and worker-protocol
routes call these methods; they never touch the queue or the workers directly.
"""

from __future__ import annotations

import asyncio
import heapq
import time
import uuid
from typing import Any

from rp_jupyter.local.endpoint_settings import EndpointSettings
from rp_jupyter.local.handler_code import code_digest
from rp_jupyter.local.handler_spec import HandlerSpec
from rp_jupyter.local.queue import JobQueue
from rp_jupyter.local.ratelimit import RateLimiter
from rp_jupyter.local.server_job import _MISSING, ServerJob
from rp_jupyter.local.stats import RequestStats
from rp_jupyter.local.validation import BadRequest, ServerJobRequest
from rp_jupyter.local.webhooks import WebhookSender
from rp_jupyter.local.worker_channel import WorkerChannel
from rp_jupyter.local.worker_pool import WorkerPool
from rp_jupyter.wire_rules import (
    CANCELLED,
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    IN_QUEUE,
    RETRYABLE_STATUSES,
    TIMED_OUT,
)

EXECUTION_TIMEOUT_ERROR = "executionTimeout exceeded"
SWEEP_EVERY = 0.5


class ServerEndpoint:
    """The state and rules of one endpoint id on a local server."""

    def __init__(self, endpoint_id: str, spec: HandlerSpec, settings: EndpointSettings,
                 webhooks: WebhookSender) -> None:
        self.id = endpoint_id
        self.spec = spec
        self.code_digest = code_digest(spec)  # the code its workers load, as started
        self.settings = settings
        self.jobs: dict[str, ServerJob] = {}
        self.running: set[str] = set()
        self.queue = JobQueue(on_take=self._on_take,
                              can_take=lambda worker_id: self.pool.may_take(worker_id))
        self.pool = WorkerPool(endpoint_id, spec, settings, self._worker_lost,
                               lambda worker_id, sock: WorkerChannel(self, worker_id, sock))
        self.limiter = RateLimiter(lambda: self.settings.effective_rate_limits())
        self.stats = RequestStats()
        self.counters = {"completed": 0, "failed": 0, "retried": 0}
        #: (expiry, job id, when the job finished): finished jobs, soonest expiry first
        self._expiries: list[tuple[float, str, float]] = []
        self._windows = self._retention_windows()
        self._webhooks = webhooks
        self._sweeper: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def faults(self) -> Any:
        return self.settings.faults

    # -- lifecycle -------------------------------------------------------------------

    def start(self, address: tuple[str, int]) -> None:
        self._loop = asyncio.get_running_loop()
        self.pool.start(address)
        self._sweeper = self._loop.create_task(self._sweep())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.pool.close()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            self.forget_expired(time.monotonic())

    def forget_expired(self, now: float) -> None:
        """Forget the results whose retention has run out, soonest first: a sweep costs
        what expires, not what is kept (unless the retention settings changed)."""
        if self._windows != self._retention_windows():
            self._windows = self._retention_windows()
            self._expiries = []
            for job in list(self.jobs.values()):
                self._keep_until_expiry(job)
        while self._expiries and self._expiries[0][0] <= now:
            _, job_id, finished = heapq.heappop(self._expiries)
            job = self.jobs.get(job_id)
            if job is not None and job.finished_mono == finished \
                    and not self._expired(job, now):
                self._keep_until_expiry(job)  # its window grew since

    def _retention_windows(self) -> tuple[float, float]:
        return self.settings.retention_for(False), self.settings.retention_for(True)

    def _keep_until_expiry(self, job: ServerJob) -> None:
        expires = job.expires_at(self.settings.retention_for(job.sync))
        if expires is not None:
            assert job.finished_mono is not None
            heapq.heappush(self._expiries, (expires, job.id, job.finished_mono))

    # -- lookups ---------------------------------------------------------------------

    def _expired(self, job: ServerJob, now: float) -> bool:
        expires = job.expires_at(self.settings.retention_for(job.sync))
        if expires is not None and now >= expires:
            self.jobs.pop(job.id, None)
            return True
        return False

    def peek(self, job_id: str) -> ServerJob | None:
        """Like :meth:`get` but without removing an expired job (safe from other threads)."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        expires = job.expires_at(self.settings.retention_for(job.sync))
        return None if expires is not None and time.monotonic() >= expires else job

    def get(self, job_id: str) -> ServerJob | None:
        """The job, or ``None`` when it never existed or its result has expired."""
        job = self.jobs.get(job_id)
        if job is None or self._expired(job, time.monotonic()):
            return None
        return job

    # -- client operations -----------------------------------------------------------

    def submit(self, request: ServerJobRequest, *, sync: bool) -> ServerJob:
        """Queue a new job (``/run`` or ``/runsync``)."""
        job_id = f"{'sync-' if sync else ''}{uuid.uuid4()}-u1"
        job = ServerJob(job_id, request.body, sync=sync,
                        execution_timeout=request.execution_timeout,
                        ttl=request.ttl, low_priority=request.low_priority)
        self.jobs[job_id] = job
        self._enqueue(job)
        return job

    def _enqueue(self, job: ServerJob) -> None:
        if job.ttl is not None:
            assert self._loop is not None
            job.timers.append(self._loop.call_later(job.ttl, self._ttl_ran_out, job,
                                                    job.attempts))
        self.queue.put(job)

    def _ttl_ran_out(self, job: ServerJob, attempt: int) -> None:
        if job.status == IN_QUEUE and job.attempts == attempt and self.queue.remove(job.id):
            self.finish(job, TIMED_OUT)

    def set_retention(self, job: ServerJob, seconds: float) -> None:
        """``/status?ttl=``: keep the result at most ``seconds`` from now."""
        if job.finished_mono is None:
            job.retention_override = seconds
        else:
            job.retention_override = (time.monotonic() - job.finished_mono) + seconds
            self._keep_until_expiry(job)

    def cancel(self, job: ServerJob) -> ServerJob:
        """Remove a queued job or stop a running one; a final job is left as it is."""
        if job.status == IN_QUEUE:
            self.queue.remove(job.id)
            self.finish(job, CANCELLED)
        elif job.status == IN_PROGRESS:
            worker_id = job.worker_id
            self.finish(job, CANCELLED)
            if worker_id is not None:
                self.pool.stop_job(worker_id, job.id)
        return job

    def retry(self, job: ServerJob) -> ServerJob:
        """Requeue a FAILED or TIMED_OUT job under the same id, clearing its old results."""
        if job.status not in RETRYABLE_STATUSES:
            raise BadRequest(f"bad request: job {job.id} is {job.status}; only FAILED or "
                             "TIMED_OUT jobs can be retried")
        job.requeue()
        self.counters["retried"] += 1
        self._enqueue(job)
        return job

    def purge(self) -> int:
        """Drop every queued job (they end CANCELLED); running jobs go on."""
        jobs = self.queue.clear()
        for job in jobs:
            self.finish(job, CANCELLED)
        return len(jobs)

    def health(self) -> dict[str, Any]:
        return {
            "jobs": {
                "completed": self.counters["completed"],
                "failed": self.counters["failed"],
                "inProgress": len(self.running),
                "inQueue": len(self.queue),
                "retried": self.counters["retried"],
            },
            "workers": self.pool.counts(),
        }

    # -- transitions -----------------------------------------------------------------

    def finish(self, job: ServerJob, status: str, *, output: Any = _MISSING,
               error: str | None = None) -> None:
        """Put a job in a terminal state, count it and send its webhook."""
        job.finish(status, output=output, error=error)
        self._keep_until_expiry(job)
        self.running.discard(job.id)
        if status == COMPLETED:
            self.counters["completed"] += 1
        elif status == FAILED:
            self.counters["failed"] += 1
        self._webhooks.send(job, self.settings)

    def _on_take(self, job: ServerJob, worker_id: str) -> None:
        job.start(worker_id)
        self.running.add(job.id)
        self.pool.took(worker_id, job.id)
        assert self._loop is not None
        job.timers.append(self._loop.call_later(job.execution_timeout, self._timed_out, job,
                                                job.attempts))

    def give_back(self, job: ServerJob) -> None:
        """A worker's job-take was abandoned after the job was handed to it: requeue it."""
        if job.status != IN_PROGRESS:
            return
        worker_id = job.worker_id
        job.cancel_timers()
        job.status = IN_QUEUE
        job.worker_id = None
        job.started_at = job.started_mono = None
        job.delay_ms = None
        self.running.discard(job.id)
        if worker_id is not None:
            self.pool.released(worker_id, job.id)
        if job.ttl is not None:
            assert self._loop is not None
            job.timers.append(self._loop.call_later(
                max(0.0, job.ttl - (time.monotonic() - job.queued_mono)),
                self._ttl_ran_out, job, job.attempts))
        self.queue.put_front(job)

    def _timed_out(self, job: ServerJob, attempt: int) -> None:
        if job.status == IN_PROGRESS and job.attempts == attempt:
            worker_id = job.worker_id
            self.finish(job, FAILED, error=EXECUTION_TIMEOUT_ERROR)
            if worker_id is not None:
                self.pool.stop_job(worker_id, job.id)

    def _worker_lost(self, job_id: str, worker_id: str, how: str) -> None:
        job = self.jobs.get(job_id)
        if job is not None and job.status == IN_PROGRESS and job.worker_id == worker_id:
            self.finish(job, FAILED, error=f"worker process exited ({how}) while running "
                                           "the job")

    # -- worker protocol -------------------------------------------------------------

    def _assigned(self, worker_id: str, job_id: str) -> ServerJob | None:
        job = self.jobs.get(job_id)
        if job is None or job.status != IN_PROGRESS or job.worker_id != worker_id:
            return None
        return job

    def job_stream(self, worker_id: str, job_id: str, outputs: list[Any]) -> bool:
        """Chunks a worker streamed; ignored unless the job is running on that worker."""
        job = self._assigned(worker_id, job_id)
        if job is None:
            return False
        job.add_chunks(outputs)
        return True

    def job_done(self, worker_id: str, job_id: str, result: dict[str, Any]) -> bool:
        """A worker's result (or, with ``status: IN_PROGRESS``, a progress update)."""
        job = self._assigned(worker_id, job_id)
        if job is None:
            self.pool.released(worker_id, job_id)
            return False
        if result.get("status") == IN_PROGRESS:
            if "output" in result:
                job.output = result["output"]
                job.notify()
            return True
        output = result.get("output", _MISSING)
        error = result.get("error")
        if error:
            error = error if isinstance(error, str) else str(error)
            self.finish(job, FAILED, output=output, error=error)
        else:
            self.finish(job, COMPLETED, output=output)
        self.pool.released(worker_id, job_id, refresh=bool(result.get("stopPod")))
        return True
