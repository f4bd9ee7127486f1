"""Why a job waits in the queue, read from its endpoint's ``/health``.

One :class:`HealthWatch` per endpoint (base URL and id), shared by every panel showing one
of its jobs: it reads ``/health`` at most every :data:`POLL_EVERY` seconds, only while one
of the jobs it was asked about is still IN_QUEUE and someone asked lately (a panel asks on
every refresh), and stops by itself otherwise.  A panel calls :func:`wait_reason`, which
never blocks; :func:`why_waiting` reads ``/health`` now if the last reading is old.

The reasons, from the worker counters: a free worker (it starts any moment), workers
initializing (a cold start), every worker busy (with the job's place in the queue),
workers throttled (no GPU capacity), unhealthy workers (crash-looping: look at their logs),
and no workers at all (none running, none starting: max workers may be 0).

Example::

    job = endpoint.run({"prompt": "hi"})
    print(rp_jupyter.why_waiting(job))   # "waiting: no GPU capacity (1 worker throttled)"
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from typing import Any

from rp_jupyter.api.models import Health, JobStatus

__all__ = ["POLL_EVERY", "HealthWatch", "describe_wait", "wait_reason", "watch_for",
           "why_waiting"]

POLL_EVERY = 3.0  # seconds between two /health reads of one endpoint
ASKED_WITHIN = 10.0  # stop polling when no panel asked for this long
FRESH_FOR = POLL_EVERY  # why_waiting reads /health again when the reading is older


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _workers(n: int) -> str:
    return f"{n} worker{'s' if n != 1 else ''}"


def describe_wait(health: Health, place: int | None = None) -> str:
    """Why a job waits, from ``/health``'s counters (``place``: its place in the queue).

    Example::

        >>> describe_wait(Health.parse({"workers": {"throttled": 1}, "jobs": {"inQueue": 1}}))
        'waiting: no GPU capacity (1 worker throttled): it starts when a GPU frees up'
    """
    idle = max(health.idle, health.ready)
    if idle:
        return f"waiting: {_workers(idle)} free, it should start any moment"
    reasons = []
    if health.running:
        busy = ("the only worker is busy" if health.running == 1
                else f"all {health.running} workers are busy")
        if health.in_queue:
            where = f"{_ordinal(place)} of " if place else ""
            busy += f" ({where}{health.in_queue} in the queue)"
        reasons.append(busy)
    if health.initializing:
        reasons.append(f"{_workers(health.initializing)} initializing (a cold start)")
    if health.throttled:
        reasons.append(f"no GPU capacity ({_workers(health.throttled)} throttled): it starts "
                       "when a GPU frees up")
    if health.unhealthy:
        reasons.append(f"{_workers(health.unhealthy)} unhealthy (crash-looping: look at the "
                       "worker's logs)")
    if not reasons:
        return ("waiting: no workers are running or starting, and none are allowed "
                "(is the endpoint's max workers 0?)")
    return "waiting: " + "; ".join(reasons)


class HealthWatch:
    """The shared ``/health`` reader of one endpoint (see the module docstring)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.latest: Health | None = None
        self.read_at = 0.0  # time.time() of the latest reading
        self.error: BaseException | None = None
        self.polls = 0
        self.asked_at = 0.0
        self._jobs: weakref.WeakSet[Any] = weakref.WeakSet()
        self._task: asyncio.Task[None] | None = None

    def ask(self, job: Any) -> None:
        """A panel shows ``job`` waiting (any thread): keep reading while it waits."""
        self.asked_at = time.monotonic()
        if job not in self._jobs or self._task is None:
            try:
                self.runtime.engine.loop.call_soon_threadsafe(self._add, job)
            except RuntimeError:  # the engine has shut down: nothing more to read
                pass

    def _add(self, job: Any) -> None:
        self._jobs.add(job)
        if self._task is None or self._task.done():
            self._task = self.runtime.engine.spawn(self._poll())

    def _waiting(self) -> bool:
        return any(job.status is JobStatus.IN_QUEUE for job in list(self._jobs))

    async def _poll(self) -> None:
        while self._waiting() and time.monotonic() - self.asked_at < ASKED_WITHIN:
            await self.read()
            await asyncio.sleep(POLL_EVERY)
        self._task = None

    async def read(self) -> Health | None:
        """Read ``/health`` now (engine thread)."""
        from rp_jupyter.api.errors import RunpodError

        try:
            self.latest = await self.runtime.health()
            self.error = None
        except RunpodError as exc:
            self.error = exc
        finally:
            self.polls += 1  # readings taken (each one a /health request answered or failed)
        self.read_at = time.time()
        return self.latest

    def place(self, job: Any) -> int | None:
        """The job's place in the queue: those queued, less the ones this process sent to
        the same endpoint after it (assuming first in, first out)."""
        if self.latest is None or not self.latest.in_queue:
            return None
        later = sum(1 for other in self.runtime.live_jobs()
                    if other.status is JobStatus.IN_QUEUE
                    and other.submitted_at > job.submitted_at)
        return max(1, self.latest.in_queue - later)

    def fresh_for(self, job: Any) -> bool:
        """True when the latest reading was taken after ``job`` was sent (it counts it)."""
        return self.latest is not None and self.read_at >= job.submitted_at

    def reason(self, job: Any) -> str | None:
        if not self.fresh_for(job):
            return None
        return describe_wait(self.latest, self.place(job))


_WATCHES: dict[tuple[str, str], HealthWatch] = {}
_WATCHES_LOCK = threading.Lock()


def watch_for(job: Any) -> HealthWatch | None:
    """The shared watch of the job's endpoint (``None`` for a job read from the journal)."""
    backend = getattr(job, "_backend", None)  # a JobBackend: the endpoint's runtime, or
    runtime = getattr(backend, "runtime", backend)  # the chat replies' sender on top of it
    if runtime is None:
        return None
    key = (runtime.base_url, runtime.endpoint_id)
    with _WATCHES_LOCK:
        watch = _WATCHES.get(key)
        if watch is None or getattr(watch.runtime.engine, "_closed", False):
            watch = _WATCHES[key] = HealthWatch(runtime)
        return watch


def wait_reason(job: Any) -> str | None:
    """Why ``job`` waits, from the latest ``/health`` reading (never blocks); ``None`` when
    it does not wait, or before the first reading has come back."""
    if job.status is not JobStatus.IN_QUEUE:
        return None
    watch = watch_for(job)
    if watch is None:
        return None
    watch.ask(job)
    return watch.reason(job)


def why_waiting(job: Any) -> str | None:
    """Why ``job`` waits in the queue, reading ``/health`` now unless a reading is fresh;
    ``None`` when it does not wait (it runs, or is done).

    Example::

        >>> rp_jupyter.why_waiting(job)
        'waiting: all 2 workers are busy (3rd of 5 in the queue)'
    """
    if job.status is not JobStatus.IN_QUEUE:
        return None
    watch = watch_for(job)
    if watch is None:
        return None
    watch.ask(job)
    if not watch.fresh_for(job) or time.time() - watch.read_at > FRESH_FOR:
        watch.runtime.engine.call(watch.read())
    if job.status is not JobStatus.IN_QUEUE:
        return None
    return watch.reason(job)
