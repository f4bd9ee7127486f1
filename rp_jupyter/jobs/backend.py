"""``JobBackend``: the small interface a :class:`~rp_jupyter.jobs.job.Job` depends on.

A job handle asks the engine side for five things: read the status now, cancel, retry,
submit the same request again, and notice that someone is looking.  The engine-side
:class:`~rp_jupyter.jobs.runtime.EndpointRuntime` implements it; ``Job`` never imports the
runtime, so the arrows point one way (runtime -> job).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from rp_jupyter.jobs.job import Job

__all__ = ["JobBackend"]

T = TypeVar("T")


class JobBackend(Protocol):
    """What a job handle calls.  The ``async`` methods run on the engine thread; ``call``
    and ``acall`` take them there from any thread or event loop.

    Example::

        backend.call(lambda b: b.refresh(job))     # blocks until the status is read
    """

    def call(self, fn: Callable[[JobBackend], Awaitable[T]]) -> T:
        """Run ``fn(self)`` on the engine thread and block for its result."""
        ...

    async def acall(self, fn: Callable[[JobBackend], Awaitable[T]]) -> T:
        """Await ``fn(self)`` on the engine thread from any event loop."""
        ...

    async def refresh(self, job: Job) -> None:
        """Ask the server for the job's status now."""
        ...

    async def cancel(self, job: Job) -> None:
        """Cancel the job on the server."""
        ...

    async def retry(self, job: Job) -> None:
        """Requeue a failed job under the same id and follow its new attempt."""
        ...

    async def rerun(self, job: Job) -> Job:
        """Submit the job's request again, as a new job."""
        ...

    def watch(self, job: Job) -> None:
        """Someone is looking at the job (any thread): see it start and its progress."""
        ...
