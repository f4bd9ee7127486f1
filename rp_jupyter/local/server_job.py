"""One job as the local endpoint holds it: status, timings, output, chunks, waiters.

All mutation happens on the server's event loop; other threads only read snapshots
(:meth:`ServerJob.record`).  Every change pulses :attr:`ServerJob.changed` so long-polls
wake up.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from rp_jupyter.local.flags import Flag
from rp_jupyter.wire_rules import FINAL_STATUSES, IN_PROGRESS, IN_QUEUE

_MISSING: Any = object()


class ServerJob:
    """A job's server-side state; :meth:`document` is what ``/status`` answers."""

    def __init__(self, job_id: str, request: dict[str, Any], *, sync: bool,
                 execution_timeout: float, ttl: float | None, low_priority: bool) -> None:
        self.id = job_id
        self.sync = sync
        self.input = request["input"]
        self.webhook: str | None = request.get("webhook")
        self.policy: dict[str, Any] | None = request.get("policy")
        self.s3_config: dict[str, Any] | None = request.get("s3Config")
        self.execution_timeout = execution_timeout
        self.ttl = ttl
        self.low_priority = low_priority
        self.status = IN_QUEUE
        now, mono = time.time(), time.monotonic()
        self.submitted_at = now
        self.queued_mono = mono
        self.started_at: float | None = None
        self.started_mono: float | None = None
        self.finished_at: float | None = None
        self.finished_mono: float | None = None
        self.delay_ms: int | None = None
        self.exec_ms: int | None = None
        self.worker_id: str | None = None
        self.output: Any = _MISSING
        self.error: str | None = None
        self.chunks: list[Any] = []
        self.chunk_times: list[float] = []
        self.delivered = 0
        self.attempts = 1
        self.retention_override: float | None = None
        self.webhook_log: list[dict[str, Any]] = []
        self.changed = Flag()
        self.timers: list[asyncio.TimerHandle] = []

    # -- change notification -------------------------------------------------------

    def notify(self) -> None:
        """Wake every long-poll waiting on this job."""
        event, self.changed = self.changed, Flag()
        event.set()

    def cancel_timers(self) -> None:
        for handle in self.timers:
            handle.cancel()
        self.timers.clear()

    # -- transitions -----------------------------------------------------------------

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def start(self, worker_id: str) -> None:
        """A worker took the job."""
        self.status = IN_PROGRESS
        self.worker_id = worker_id
        self.started_at = time.time()
        self.started_mono = time.monotonic()
        self.delay_ms = round((self.started_mono - self.queued_mono) * 1000)
        self.notify()

    def finish(self, status: str, *, output: Any = _MISSING, error: str | None = None) -> None:
        """Move to a terminal status; ``executionTime`` counts only if a worker had it."""
        self.status = status
        self.finished_at = time.time()
        self.finished_mono = time.monotonic()
        if self.started_mono is not None:
            # rounded up: a job a worker ran took some time (and is priced by it), even
            # when its worker returned it within the millisecond
            self.exec_ms = math.ceil((self.finished_mono - self.started_mono) * 1000)
        if output is not _MISSING:
            self.output = output
        if error is not None:
            self.error = error
        self.cancel_timers()
        self.notify()

    def requeue(self) -> None:
        """Back to the queue under the same id, as ``/retry`` does: old results cleared."""
        self.status = IN_QUEUE
        self.queued_mono = time.monotonic()
        self.started_at = self.started_mono = None
        self.finished_at = self.finished_mono = None
        self.delay_ms = self.exec_ms = None
        self.worker_id = None
        self.output = _MISSING
        self.error = None
        self.chunks = []
        self.chunk_times = []
        self.delivered = 0
        self.attempts += 1
        self.cancel_timers()
        self.notify()

    def add_chunks(self, outputs: list[Any]) -> None:
        now = time.time()
        self.chunks.extend(outputs)
        self.chunk_times.extend([now] * len(outputs))
        self.notify()

    # -- retention -------------------------------------------------------------------

    def expires_at(self, window: float) -> float | None:
        """Monotonic time the result disappears, or ``None`` while the job is not final.

        ``window`` is the endpoint's retention; ``policy.ttl`` and ``/status?ttl=`` can
        only shorten it.
        """
        if self.finished_mono is None:
            return None
        for limit in (self.ttl, self.retention_override):
            if limit is not None:
                window = min(window, limit)
        return self.finished_mono + window

    # -- views -----------------------------------------------------------------------

    def payload(self) -> dict[str, Any]:
        """The job dict a worker's handler receives: ``id``, ``input`` and passed-through keys."""
        job: dict[str, Any] = {"id": self.id, "input": self.input}
        if self.webhook is not None:
            job["webhook"] = self.webhook
        if self.policy is not None:
            job["policy"] = self.policy
        if self.s3_config is not None:
            job["s3Config"] = self.s3_config
        return job

    def document(self) -> dict[str, Any]:
        """The status document: id, status, delayTime, executionTime, workerId, output, error."""
        doc: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.delay_ms is not None:
            doc["delayTime"] = self.delay_ms
        if self.exec_ms is not None:
            doc["executionTime"] = self.exec_ms
        if self.worker_id is not None:
            doc["workerId"] = self.worker_id
        if self.output is not _MISSING:
            doc["output"] = self.output
        if self.error is not None:
            doc["error"] = self.error
        return doc

    def record(self) -> dict[str, Any]:
        """The server-side view, with wall-clock timestamps, for tests and the admin API."""
        return {
            "id": self.id,
            "status": self.status,
            "sync": self.sync,
            "input": self.input,
            "submitted_at": self.submitted_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "delay_ms": self.delay_ms,
            "execution_ms": self.exec_ms,
            "worker_id": self.worker_id,
            "attempts": self.attempts,
            "low_priority": self.low_priority,
            "execution_timeout": self.execution_timeout,
            "ttl": self.ttl,
            "chunks": len(self.chunks),
            "delivered": self.delivered,
            "chunk_times": list(self.chunk_times),
            "webhook": self.webhook,
            "webhook_attempts": list(self.webhook_log),
            "output": None if self.output is _MISSING else self.output,
            "error": self.error,
        }
