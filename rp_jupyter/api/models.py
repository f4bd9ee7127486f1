"""Typed views of the documents the Runpod job API returns.

They tolerate every variant reference/runpod-api.md section 9 lists as uncertain: health
with 2, 5 or 6 worker keys, ``output`` missing or ``[]``, ``error`` plain or JSON-encoded,
``/stream`` answering an object or a bare list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rp_jupyter import wire_rules

__all__ = ["MISSING", "Health", "JobStatus", "StatusDocument", "StreamBatch"]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""Marks a field the server did not send (``output`` may legitimately be ``None``)."""


class JobStatus(str, Enum):
    """A job's status; members equal their strings (``JobStatus.COMPLETED == "COMPLETED"``).

    The server's statuses are :mod:`rp_jupyter.wire_rules`'.  ``SUBMITTING``, ``EXPIRED``
    and ``LOST`` are client-side states: the request is being sent; the server forgot the
    job before its result was fetched; the local endpoint running it stopped before it
    finished.
    """

    SUBMITTING = "SUBMITTING"
    IN_QUEUE = wire_rules.IN_QUEUE
    IN_PROGRESS = wire_rules.IN_PROGRESS
    COMPLETED = wire_rules.COMPLETED
    FAILED = wire_rules.FAILED
    CANCELLED = wire_rules.CANCELLED
    TIMED_OUT = wire_rules.TIMED_OUT
    EXPIRED = "EXPIRED"
    LOST = "LOST"

    @property
    def is_final(self) -> bool:
        return (self.value in wire_rules.FINAL_STATUSES
                or self in (JobStatus.EXPIRED, JobStatus.LOST))

    @classmethod
    def parse(cls, value: Any) -> JobStatus:
        """Map a server status to a member; ``RUNNING`` (a docs-only alias) reads as IN_PROGRESS."""
        text = str(value or "").upper()
        if text == wire_rules.RUNNING_ALIAS:
            return cls.IN_PROGRESS
        try:
            return cls(text)
        except ValueError:
            return cls.IN_PROGRESS if text else cls.IN_QUEUE

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class StatusDocument:
    """``/run``, ``/runsync``, ``/status``, ``/cancel`` and ``/retry`` answers."""

    id: str
    status: JobStatus
    delay_ms: int | None = None
    execution_ms: int | None = None
    worker_id: str | None = None
    output: Any = MISSING
    error: Any = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, doc: dict[str, Any], job_id: str | None = None) -> StatusDocument:
        return cls(
            id=str(doc.get("id") or job_id or ""),
            status=JobStatus.parse(doc.get("status")),
            delay_ms=_int_or_none(doc.get("delayTime")),
            execution_ms=_int_or_none(doc.get("executionTime")),
            worker_id=doc.get("workerId"),
            output=doc.get("output", MISSING),
            error=doc.get("error"),
            raw=doc,
        )


@dataclass(frozen=True)
class StreamBatch:
    """One ``/stream`` answer: the status and the chunks produced since the previous call."""

    status: JobStatus
    chunks: list[Any]

    @classmethod
    def parse(cls, doc: Any) -> StreamBatch:
        if isinstance(doc, list):  # the docs' bare-array example
            return cls(JobStatus.IN_PROGRESS, [_chunk_output(c) for c in doc])
        return cls(
            JobStatus.parse(doc.get("status")),
            [_chunk_output(c) for c in doc.get("stream") or []],
        )


WORKER_KEYS = ("idle", "initializing", "ready", "running", "throttled", "unhealthy")
JOB_KEYS = ("inQueue", "inProgress", "completed", "failed", "retried")


@dataclass(frozen=True)
class Health:
    """``/health``: worker and job counters.  Keys the server did not report read as 0;
    ``reported`` says which were there (the hosted API has sent 2, 5 or 6 worker keys).

    Example::

        >>> h = Health.parse({"workers": {"idle": 1, "running": 2}, "jobs": {"inQueue": 3}})
        >>> h.running, h.in_queue, h.throttled
        (2, 3, 0)
    """

    workers: dict[str, int]
    jobs: dict[str, int]
    reported: frozenset[str]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, doc: dict[str, Any]) -> Health:
        raw_workers = doc.get("workers") or {}
        raw_jobs = doc.get("jobs") or {}
        workers = {k: _int_or_none(raw_workers.get(k)) or 0 for k in WORKER_KEYS}
        jobs = {k: _int_or_none(raw_jobs.get(k)) or 0 for k in JOB_KEYS}
        reported = frozenset(
            [f"workers.{k}" for k in raw_workers] + [f"jobs.{k}" for k in raw_jobs]
        )
        return cls(workers=workers, jobs=jobs, reported=reported, raw=doc)

    idle = property(lambda self: self.workers["idle"])
    initializing = property(lambda self: self.workers["initializing"])
    ready = property(lambda self: self.workers["ready"])
    running = property(lambda self: self.workers["running"])
    throttled = property(lambda self: self.workers["throttled"])
    unhealthy = property(lambda self: self.workers["unhealthy"])
    in_queue = property(lambda self: self.jobs["inQueue"])
    in_progress = property(lambda self: self.jobs["inProgress"])
    completed = property(lambda self: self.jobs["completed"])
    failed = property(lambda self: self.jobs["failed"])
    retried = property(lambda self: self.jobs["retried"])


def _chunk_output(chunk: Any) -> Any:
    if isinstance(chunk, dict) and "output" in chunk:
        return chunk["output"]
    return chunk


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
