"""A journaled job played again at the pace it had: its start, each batch of chunks when it
arrived, and its end, as a :class:`Job` any panel can show (``%runpod replay``), so a class
demo looks live with no endpoint at all.  Nothing is sent and nothing is journaled.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from rp_jupyter.api.models import JobStatus, StatusDocument
from rp_jupyter.jobs.job import Job
from rp_jupyter.jobs.journal_records import JobRecord

__all__ = ["ReplayedJob", "replay"]

MAX_PAUSE = 10.0  # seconds of the original that a replay waits at most between two steps


class ReplayedJob(Job):
    """A job replayed from the journal; ``cancel()`` stops the replay."""

    def __init__(self, record: JobRecord, speed: float) -> None:
        super().__init__(None, job_id=record.job_id or f"(unsent #{record.key})",
                         endpoint_id=record.endpoint_id, base_url=record.base_url,
                         mode=record.mode, input=record.input, source="replay")
        self.speed = speed
        self._stop = threading.Event()

    def cancel(self) -> Job:
        self._stop.set()
        self._finish(JobStatus.CANCELLED, StatusDocument(id=self.id, status=JobStatus.CANCELLED))
        return self

    async def acancel(self) -> Job:
        return self.cancel()

    def _sleep_until(self, due: float) -> bool:
        """Wait for ``due`` (monotonic); False when the replay was stopped meanwhile."""
        return not self._stop.wait(max(0.0, due - time.monotonic()))


def _timeline(record: JobRecord) -> tuple[float | None, list[tuple[float, list[Any]]], float]:
    """Seconds after submission: when it started, each batch of chunks, when it ended."""
    origin = record.submitted_at or record.created_at
    batches: dict[float, list[Any]] = {}
    for at, data in record.journal.chunk_times(record.key, record.attempt):
        batches.setdefault(at, []).append(json.loads(data))
    started = None
    if record.started_at:
        started = record.started_at - origin
    elif record.delay_ms is not None:
        started = record.delay_ms / 1000
    steps = [(at - origin, chunks) for at, chunks in sorted(batches.items())]
    end = (record.finished_at or record.updated_at) - origin
    return started, steps, end


def _paced(moments: list[float]) -> list[float]:
    """The moments in order, never going back, with no pause longer than ``MAX_PAUSE``."""
    paced, last, shift = [], 0.0, 0.0
    for moment in moments:
        moment = max(moment - shift, last)
        if moment - last > MAX_PAUSE:
            shift += moment - last - MAX_PAUSE
            moment = last + MAX_PAUSE
        paced.append(moment)
        last = moment
    return paced


def replay(record: JobRecord, *, speed: float = 1.0) -> ReplayedJob:
    """Play ``record`` again (a final journal record) at ``speed`` times its pace.

    Example::

        job = replay(JobJournal.open().find("3a44d654-..."), speed=2)
        job.wait()
    """
    if not record.final:
        raise ValueError(f"job {record.job_id} is {record.status}: only a finished job can be "
                         "replayed")
    if speed <= 0:
        raise ValueError("speed must be more than 0")
    job = ReplayedJob(record, speed)
    started, steps, end = _timeline(record)
    moments = _paced([started or 0.0, *(at for at, _ in steps), end])
    status = JobStatus.parse(record.status)
    final = StatusDocument(id=job.id, status=status, delay_ms=record.delay_ms,
                           execution_ms=record.execution_ms, worker_id=record.worker_id,
                           output=record.output(), error=record.error)

    def play() -> None:
        begin = time.monotonic()
        if not job._sleep_until(begin + moments[0] / speed):
            return
        job._apply_status(JobStatus.IN_PROGRESS)
        for (_, chunks), moment in zip(steps, moments[1:-1], strict=True):
            if not job._sleep_until(begin + moment / speed):
                return
            job._add_chunks(chunks)
        if job._sleep_until(begin + moments[-1] / speed):
            job._finish(status, final)

    threading.Thread(target=play, name="rp_jupyter-replay", daemon=True).start()
    return job
