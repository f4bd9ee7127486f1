"""The endpoint's FIFO queue: normal-priority jobs first, then ``lowPriority`` ones.

Workers wait in :meth:`JobQueue.take` (the job-take long-poll) or, for the server's own
workers, through :meth:`JobQueue.wait_with` (their channel); a job put on the queue goes
straight to the longest-waiting worker, so pickup costs no polling delay.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from rp_jupyter.local.server_job import ServerJob


class JobQueue:
    """Two FIFO lanes with O(1) removal, plus the workers waiting for a job."""

    def __init__(self, on_take: Callable[[ServerJob, str], None],
                 can_take: Callable[[str], bool] | None = None) -> None:
        """``can_take(worker_id)`` is asked before a waiting worker gets a job: a worker
        being ended while its job-take waits (a concurrent one) must not get one."""
        self._normal: OrderedDict[str, ServerJob] = OrderedDict()
        self._low: OrderedDict[str, ServerJob] = OrderedDict()
        self._takers: deque[tuple[str, Any]] = deque()  # (worker id, future or channel)
        self._on_take = on_take
        self._can_take = can_take

    def __len__(self) -> int:
        return len(self._normal) + len(self._low)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._normal or job_id in self._low

    def put(self, job: ServerJob) -> None:
        (self._low if job.low_priority else self._normal)[job.id] = job
        self.dispatch()

    def put_front(self, job: ServerJob) -> None:
        """Queue a job ahead of the others of its lane (a hand-off that did not happen)."""
        lane = self._low if job.low_priority else self._normal
        lane[job.id] = job
        lane.move_to_end(job.id, last=False)
        self.dispatch()

    def remove(self, job_id: str) -> ServerJob | None:
        """Take a queued job out (cancel, purge, TTL); ``None`` if it is not queued."""
        return self._normal.pop(job_id, None) or self._low.pop(job_id, None)

    def clear(self) -> list[ServerJob]:
        """Remove every queued job; running ones are not in the queue."""
        jobs = [*self._normal.values(), *self._low.values()]
        self._normal.clear()
        self._low.clear()
        return jobs

    def _pop(self) -> ServerJob | None:
        for lane in (self._normal, self._low):
            if lane:
                return lane.popitem(last=False)[1]
        return None

    def take_nowait(self, worker_id: str) -> ServerJob | None:
        job = self._pop()
        if job is not None:
            self._on_take(job, worker_id)
        return job

    async def take(self, worker_id: str, timeout: float,
                   gone: asyncio.Event | None = None) -> ServerJob | None:
        """The next job for ``worker_id``, waiting up to ``timeout`` s (``None`` if none).

        ``gone`` is set when the worker's request was abandoned; it then stops waiting.
        """
        if not self._takers:
            job = self.take_nowait(worker_id)
            if job is not None:
                return job
        if timeout <= 0:
            return None
        fut: asyncio.Future[ServerJob] = asyncio.get_running_loop().create_future()
        entry = (worker_id, fut)
        self._takers.append(entry)
        self.dispatch()
        waits: set[asyncio.Future] = {fut}
        gone_task = asyncio.ensure_future(gone.wait()) if gone is not None else None
        if gone_task is not None:
            waits.add(gone_task)
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if gone_task is not None:
                gone_task.cancel()
            if not fut.done():
                fut.cancel()
                try:
                    self._takers.remove(entry)
                except ValueError:
                    pass
        return fut.result() if not fut.cancelled() else None

    def wait_with(self, worker_id: str, taker: Any) -> None:
        """Add a waiting taker that is not a request: anything with a future's ``done``,
        ``cancel`` and ``set_result`` (a worker's channel, which sends the job on inside
        ``set_result``).  It gets a job at once if one is queued."""
        self._takers.append((worker_id, taker))
        self.dispatch()

    def dispatch(self) -> None:
        """Hand queued jobs to waiting workers, oldest first."""
        while self._takers and len(self):
            worker_id, fut = self._takers.popleft()
            if fut.done():
                continue
            if self._can_take is not None and not self._can_take(worker_id):
                fut.cancel()
                continue
            job = self._pop()
            assert job is not None
            self._on_take(job, worker_id)
            fut.set_result(job)

    def drop_taker(self, worker_id: str) -> None:
        """Forget the waiting request of a worker that is gone."""
        for entry in list(self._takers):
            if entry[0] == worker_id:
                self._takers.remove(entry)
                if not entry[1].done():
                    entry[1].cancel()

    @property
    def waiting_workers(self) -> list[str]:
        return [wid for wid, fut in self._takers if not fut.done()]
