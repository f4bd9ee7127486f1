"""Ctrl-C while a ``/run`` or ``/runsync`` is on its way: the job it started is cancelled.

The request may already have reached the server, and only its answer carries the job's
id.  So an interrupt lets the submission go on: if the answer comes back within
:data:`SUBMIT_GRACE` seconds the job is cancelled at once; if not (a ``/runsync`` the
server holds while the job runs), it is cancelled the moment the answer arrives.  Either
way :class:`SubmitInterrupted`, a ``KeyboardInterrupt``, says in one line what became of
the job; nothing is left running unseen.
"""

from __future__ import annotations

import concurrent.futures
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rp_jupyter.jobs.engine import Engine
    from rp_jupyter.jobs.job import Job

__all__ = ["SUBMIT_GRACE", "SubmitInterrupted", "submit_interruptibly"]

#: seconds an interrupted submission may take to answer before the cell gives it up
SUBMIT_GRACE = 10.0


class SubmitInterrupted(KeyboardInterrupt):
    """Ctrl-C during a submission; ``str()`` is one line saying what became of the job.

    ``job`` is the job when its id came back in time (``cancelled`` says whether it was
    stopped, ``problem`` why not); ``None`` when the server had not answered yet (it is
    cancelled once the answer comes) or the request failed (``problem``).
    """

    def __init__(self, endpoint_id: str, route: str, job: Job | None = None, *,
                 cancelled: bool = False, problem: str | None = None) -> None:
        self.endpoint_id = endpoint_id
        self.route = route
        self.job = job
        self.cancelled = cancelled
        self.problem = problem
        super().__init__(self.describe())

    def describe(self) -> str:
        job, where = self.job, f"endpoint {self.endpoint_id}"
        if job is None and self.problem:
            return f"Interrupted: {self.route} to {where} failed ({self.problem}); no job runs"
        if job is None:
            return (f"Interrupted: {self.route} to {where} has not answered with the job's id "
                    "yet; the job is cancelled as soon as it does (see %runpod jobs)")
        if self.cancelled:
            return f"Interrupted: cancelled job {job.id} on {where}"
        if self.problem:
            return (f"Interrupted: could not cancel job {job.id} on {where} ({self.problem}); "
                    f"it may still run: %runpod cancel {job.id}")
        return (f"Interrupted: job {job.id} on {where} had already finished "
                f"({job.status}); %runpod result {job.id} shows it")


def submit_interruptibly(engine: Engine, submission: Any, *, endpoint_id: str,
                         route: str) -> Job:
    """Block for a submission; on Ctrl-C see the module docstring (a second Ctrl-C stops
    waiting for the answer, never the cancel that follows it)."""
    future = engine.submit(submission)
    try:
        return future.result()
    except KeyboardInterrupt:
        pass
    try:
        job = future.result(timeout=SUBMIT_GRACE)
    except (concurrent.futures.TimeoutError, KeyboardInterrupt):
        future.add_done_callback(lambda done: _cancel_when_answered(engine, done))
        raise SubmitInterrupted(endpoint_id, route) from None
    except Exception as exc:
        raise SubmitInterrupted(endpoint_id, route, problem=_reason(exc)) from None
    if job.is_final:
        raise SubmitInterrupted(endpoint_id, route, job) from None
    try:
        job.cancel()
    except Exception as exc:  # the journal keeps the job; it is followed to its end
        raise SubmitInterrupted(endpoint_id, route, job, problem=_reason(exc)) from None
    raise SubmitInterrupted(endpoint_id, route, job, cancelled=True) from None


def _cancel_when_answered(engine: Engine, done: concurrent.futures.Future[Job]) -> None:
    if done.cancelled() or done.exception() is not None:
        return
    job = done.result()
    if not job.is_final:
        engine.spawn_threadsafe(job.acancel())


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
