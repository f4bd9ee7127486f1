"""This session's jobs: those this process (a kernel, a script) sent, what they cost
together, which are unfinished, and what becomes of those when the process exits.

One :class:`Session` per engine (one per process outside tests).  At exit the unfinished
ones are listed on stderr, because a forgotten job keeps a GPU busy and billed until it ends
(at its execution timeout: 10 minutes by default, up to 7 days); with
``settings.cancel_on_exit`` (``RunpodMagics.cancel_on_exit``) they are cancelled first.

Example::

    from rp_jupyter.jobs.session import current_session, settings

    settings.cancel_on_exit = True
    print(current_session().spending())
"""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, TextIO

from rp_jupyter.env_names import JUPYTER_SESSION_ENV
from rp_jupyter.jobs.cost import dollars, is_local, job_cost

__all__ = ["Limits", "Session", "SessionSettings", "Spending", "current_session",
           "session_of", "settings"]

EXIT_CANCEL_TIMEOUT = 10.0


@dataclass
class SessionSettings:
    """Process-wide settings: which notebook sends the jobs (journaled with each, for
    ``%runpod cost --by notebook``), and whether unfinished jobs are cancelled at exit."""

    origin: str | None = field(default_factory=lambda: os.environ.get(JUPYTER_SESSION_ENV) or None)
    cancel_on_exit: bool = False


settings = SessionSettings()


@dataclass
class Limits:
    """Budget limits in dollars (``None``: no limit)."""

    session: float | None = None
    per_day: float | None = None

    @property
    def any(self) -> bool:
        return self.session is not None or self.per_day is not None


@dataclass(frozen=True)
class Spending:
    """What this session's jobs cost: ``final`` (finished jobs whose cost is known),
    ``running`` (so far, of unfinished ones), and how many finished with an unknown cost."""

    final: float
    running: float
    unknown: int
    jobs: int

    @property
    def total(self) -> float:
        return self.final + self.running

    def __str__(self) -> str:
        extra = f" (+{self.unknown} of unknown cost)" if self.unknown else ""
        return f"{dollars(self.total)} on {self.jobs} job(s){extra}"


class Session:
    """The jobs one engine has sent (see the module docstring)."""

    def __init__(self, engine: Any) -> None:
        self._engine = weakref.ref(engine)
        self.started_at = time.time()
        self.limits = Limits()
        self.stopped: dict[str, str] = {}  # job id -> why the budget cancelled it
        self.watching = False  # a budget watch runs on the engine
        self.wake: Any = None  # its asyncio.Event, set when a job is sent
        self._lock = threading.Lock()
        self._open: dict[int, Any] = {}
        self._final = 0.0
        self._unknown = 0
        self._seen: set[str] = set()
        self._exit_hooked = False

    @property
    def engine(self) -> Any:
        return self._engine()

    # -- the ledger ------------------------------------------------------------------------

    def track(self, job: Any) -> None:
        """Count ``job`` (just sent, or retried) as this session's."""
        with self._lock:
            self._open[id(job)] = job
            if job.id not in self._seen:  # a retried job is one job
                self._seen.add(job.id)
            if self.wake is not None:  # on the engine thread: the budget looks at it now
                self.wake.set()
            if not self._exit_hooked:  # after the engine's own hook: runs before it at exit
                self._exit_hooked = True
                atexit.register(_exit_hook, weakref.ref(self))

    def settle(self) -> None:
        """Add up the jobs that have ended, and let go of them."""
        with self._lock:
            self._settle()

    def ended(self, job: Any) -> None:
        """Add up ``job``, which has just ended, and let go of it (the others stay as they
        are, so a thousand jobs ending one by one cost a thousand steps, not a million)."""
        with self._lock:
            if job.is_final and self._open.pop(id(job), None) is not None:
                self._count(job)

    def _settle(self) -> None:
        for key, job in list(self._open.items()):
            if job.is_final:
                del self._open[key]
                self._count(job)

    def _count(self, job: Any) -> None:
        cost = job_cost(job)
        if cost.known:
            self._final += cost.dollars or 0.0
        else:
            self._unknown += 1

    def spending(self) -> Spending:
        """What the session's jobs cost so far (running ones: their time so far)."""
        with self._lock:
            self._settle()
            running = sum(c.dollars or 0.0 for c in map(job_cost, self._open.values()))
            return Spending(self._final, running, self._unknown, len(self._seen))

    def unfinished(self) -> list[Any]:
        """The session's jobs that are not final yet, oldest first."""
        with self._lock:
            self._settle()
            return sorted(self._open.values(), key=lambda job: job.submitted_at)

    # -- at exit ---------------------------------------------------------------------------

    def exit_report(self) -> str | None:
        """Say which jobs are unfinished (cancel them first with ``cancel_on_exit``); ``None``
        when there are none."""
        engine = self.engine
        if engine is None or getattr(engine, "_closed", True):
            return None
        jobs = self.unfinished()
        if not jobs:
            return None
        cancelled = settings.cancel_on_exit
        if cancelled:
            _cancel_all(engine, jobs)
        now = time.time()
        lines = [f"rp_jupyter: {len(jobs)} job(s) sent from this session "
                 f"{'were' if cancelled else 'are'} unfinished as it ends:"]
        for job in jobs:
            age = _minutes(now - job.submitted_at)
            state = (f"{job.status} now" if cancelled else f"{job.status}")
            lines.append(f"  job {job.id} on {job.endpoint_id}: {state} (sent {age} ago)")
        if cancelled:
            lines.append("They were cancelled (RunpodMagics.cancel_on_exit is on).")
        else:
            billed = any(not is_local(job.base_url) for job in jobs)
            lines.append(
                "They go on until they end" + (", and are billed," if billed else "")
                + " (at their execution timeout at the latest).  Cancel one from another "
                "session with rp_jupyter.Endpoint(ENDPOINT).job(JOB).cancel(), or set "
                "RunpodMagics.cancel_on_exit = True to cancel them when the kernel shuts down.")
        return "\n".join(lines)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _cancel_all(engine: Any, jobs: list[Any]) -> None:
    async def cancel() -> None:
        await asyncio.gather(*(job.acancel() for job in jobs), return_exceptions=True)

    try:
        engine.call(cancel(), timeout=EXIT_CANCEL_TIMEOUT)
    except Exception:
        pass  # the report says what each job's status is now


def _exit_hook(ref: weakref.ref[Session], out: TextIO | None = None) -> None:
    session = ref()
    if session is None:
        return
    try:
        text = session.exit_report()
    except Exception as exc:  # never a traceback at exit
        text = f"rp_jupyter: could not list this session's unfinished jobs: {exc}"
    if text:
        stream = out or sys.__stderr__ or sys.stderr
        print(text, file=stream, flush=True)


_SESSIONS: weakref.WeakKeyDictionary[Any, Session] = weakref.WeakKeyDictionary()
_SESSIONS_LOCK = threading.Lock()


def session_of(engine: Any) -> Session:
    """The session of ``engine`` (created on first use)."""
    with _SESSIONS_LOCK:
        session = _SESSIONS.get(engine)
        if session is None:
            session = _SESSIONS[engine] = Session(engine)
        return session


def current_session() -> Session:
    """The session of the running engine (started if need be)."""
    from rp_jupyter.jobs.engine import Engine

    return session_of(Engine.get())
