"""A budget for this session, or for each day: jobs that would pass it are refused before
anything is sent, and running jobs that pass it are cancelled.

What a job will cost is estimated from its endpoint's history in the journal (its last
finished jobs: their execution time times the price, or their ``output.cost``), so a sweep
can say up front "24 jobs × ~3.1 s ≈ $0.03".  While a limit is set and jobs run, a watch on
the engine adds up what they cost so far every second; past the limit it cancels them, and
each cancelled job's panel (and its journal note) says why.

Example::

    rp_jupyter.budget(2.50)                 # this session
    rp_jupyter.budget(per_day=10)           # every job of the day, in every notebook
    rp_jupyter.budget()                     # the limits and what is spent
"""

from __future__ import annotations

import asyncio
import datetime
import math
import time
from dataclasses import dataclass
from typing import Any

from rp_jupyter.api.errors import BudgetExceededError
from rp_jupyter.jobs.cost import Price, dollars, job_cost, price_for
from rp_jupyter.jobs.session import Limits, Session, current_session

__all__ = ["BudgetStatus", "Estimate", "admit", "budget", "estimate", "plan", "stop_reason"]

HISTORY_JOBS = 20  # finished jobs an estimate looks back on
CHECK_EVERY = 1.0  # seconds between two looks at running jobs while a limit is set ...
MIN_CHECK = 0.2  # ... and the shortest pause, as a limit nears: running jobs stop this
#                  many seconds of spending before they would pass it
UNSET: Any = object()
LIFT_HINT = "raise it (%runpod budget 5) or lift it (%runpod budget --off)"


# -- estimates -------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """What ``count`` jobs on an endpoint should cost, from its history."""

    endpoint_id: str
    count: int
    seconds_each: float | None  # average execution time of its recent jobs
    dollars_each: float | None  # None: unknown
    price: Price | None
    history: int  # how many finished jobs the figures come from
    reported: bool = False  # the figures come from the jobs' own output.cost

    @property
    def total(self) -> float | None:
        return None if self.dollars_each is None else self.dollars_each * self.count

    @property
    def free(self) -> bool:
        return self.price is not None and self.price.per_second == 0 and not self.reported

    def text(self) -> str:
        """``24 jobs × ~3.1 s ≈ $0.03`` (or why there is no figure)."""
        jobs = f"{self.count} job{'s' if self.count != 1 else ''}"
        if self.reported:
            return f"{jobs} × ~{dollars(self.dollars_each)} ≈ {dollars(self.total)}"
        if self.seconds_each is None:
            known = "" if self.price is not None else f" (and no price for {self.endpoint_id})"
            return f"{jobs}; no finished job on {self.endpoint_id} to estimate from{known}"
        each = f"{jobs} × ~{self.seconds_each:.1f} s"
        if self.price is None:
            return f"{each}; cost unknown (no price for {self.endpoint_id})"
        if self.free:
            return f"{each} ≈ $0 (a local endpoint)"
        return f"{each} ≈ {dollars(self.total)}"


def estimate(endpoint_id: str, base_url: str, count: int = 1, journal: Any = None) -> Estimate:
    """What ``count`` jobs on an endpoint should cost, from its last finished jobs."""
    if journal is None:
        from rp_jupyter.jobs.journal import JobJournal

        journal = JobJournal.open()
    rows = journal.read(
        "SELECT execution_ms, cost, cost_source FROM jobs WHERE endpoint_id = ? AND "
        "status = 'COMPLETED' AND (execution_ms IS NOT NULL OR cost_source = 'output.cost') "
        "ORDER BY finished_at DESC LIMIT ?", (endpoint_id, HISTORY_JOBS))
    price = price_for(endpoint_id, base_url)
    reported = [row["cost"] for row in rows if row["cost_source"] == "output.cost"]
    times = [row["execution_ms"] / 1000 for row in rows if row["execution_ms"] is not None]
    seconds = sum(times) / len(times) if times else None
    if reported and len(reported) * 2 >= len(rows):  # an endpoint that reports its costs
        each = sum(reported) / len(reported)
        return Estimate(endpoint_id, count, seconds, each, price, len(rows), reported=True)
    each = None
    if price is not None:
        each = 0.0 if price.per_second == 0 else (
            seconds * price.per_second if seconds is not None else None)
    return Estimate(endpoint_id, count, seconds, each, price, len(rows))


# -- spending and limits ---------------------------------------------------------------


def _midnight() -> float:
    today = datetime.date.today()
    return time.mktime(today.timetuple())


def spent_today(session: Session, journal: Any) -> float:
    """Every job of today (local time) in the journal, plus this session's running ones."""
    row = journal.read("SELECT coalesce(sum(cost), 0) FROM jobs WHERE final = 1 AND "
                       "created_at >= ?", (_midnight(),))
    return float(row[0][0]) + session.spending().running


@dataclass(frozen=True)
class BudgetStatus:
    """The limits in force and what is spent against them."""

    limits: Limits
    session_spent: float
    today_spent: float
    unknown: int

    def lines(self) -> list[str]:
        lines = []
        for name, limit, spent in (("this session", self.limits.session, self.session_spent),
                                   ("today", self.limits.per_day, self.today_spent)):
            if limit is None:
                lines.append(f"{name}: no budget ({dollars(spent)} spent)")
            else:
                left = max(0.0, limit - spent)
                lines.append(f"{name}: {dollars(spent)} of {dollars(limit)} spent, "
                             f"{dollars(left)} left")
        if self.unknown:
            lines.append(f"{self.unknown} job(s) of this session cost an unknown amount "
                         "(no price for their endpoint)")
        return lines

    def __repr__(self) -> str:
        return "\n".join(["Budget:", *("  " + line for line in self.lines())])

    def _repr_html_(self) -> str:
        from html import escape

        items = "".join(f"<li>{escape(line)}</li>" for line in self.lines())
        return f"<div><b>Budget</b><ul style=\"margin:2px 0\">{items}</ul></div>"


def status(session: Session | None = None) -> BudgetStatus:
    from rp_jupyter.jobs.journal import JobJournal

    session = session or current_session()
    spending = session.spending()
    return BudgetStatus(Limits(session.limits.session, session.limits.per_day),
                        spending.total, spent_today(session, JobJournal.open()),
                        spending.unknown)


def _amount(name: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        amount = float(value)
    except (TypeError, ValueError):
        amount = math.nan
    if not (math.isfinite(amount) and amount > 0):
        raise ValueError(f"{name} must be a positive number of dollars, such as 2.50, "
                         f"not {value!r}")
    return amount


def budget(session: Any = UNSET, *, per_day: Any = UNSET) -> BudgetStatus:
    """Set (a number of dollars), lift (``None``) or, with no argument, show the budget of
    this session and of each day.

    Example::

        rp_jupyter.budget(2.50)              # this session may spend $2.50
        rp_jupyter.budget(None, per_day=10)  # no session limit; $10 a day
    """
    current = current_session()
    if session is not UNSET:
        current.limits.session = _amount("the session budget", session)
    if per_day is not UNSET:
        current.limits.per_day = _amount("the daily budget", per_day)
    if current.limits.any:
        start_watch(current)
    return status(current)


def admit(session: Session, endpoint_id: str, base_url: str, count: int = 1,
          journal: Any = None) -> Estimate | None:
    """Refuse (``BudgetExceededError``) ``count`` jobs that would pass a limit; the estimate
    when a limit is set, ``None`` when none is."""
    if not session.limits.any:
        return None
    if journal is None:
        from rp_jupyter.jobs.journal import JobJournal

        journal = JobJournal.open()
    guess = estimate(endpoint_id, base_url, count, journal)
    if guess.free:
        return guess
    if guess.price is None and not guess.reported:
        raise BudgetExceededError(
            f"a budget is set, and what a job on endpoint {endpoint_id} costs is unknown (it "
            "has no price): nothing was sent",
            hint=f"set its price (%runpod price {endpoint_id} 0.00044, or a GPU name such as "
                 "A100), or lift the budget (%runpod budget --off)")
    adding = guess.total or 0.0
    spending = session.spending().total
    checks = [("session", session.limits.session, spending)]
    if session.limits.per_day is not None:
        checks.append(("daily", session.limits.per_day, spent_today(session, journal)))
    if count > 1:
        what = f"this sweep ({guess.text()})"
    else:
        what = f"this job (about {dollars(adding)})" if adding else "this job"
    for name, limit, spent in checks:
        if limit is None:
            continue
        if spent >= limit:
            raise BudgetExceededError(
                f"the {name} budget of {dollars(limit)} is used up ({dollars(spent)} spent): "
                f"{what} was not sent", hint=LIFT_HINT)
        if spent + adding > limit:
            raise BudgetExceededError(
                f"{what} would pass the {name} budget ({dollars(spent)} of {dollars(limit)} "
                f"spent, {dollars(limit - spent)} left): nothing was sent", hint=LIFT_HINT)
    return guess


def plan(runtime: Any, count: int) -> Estimate:
    """What ``count`` jobs on ``runtime``'s endpoint should cost; ``BudgetExceededError``
    (before anything is sent) when they would pass a limit."""
    from rp_jupyter.jobs.session import session_of

    session = session_of(runtime.engine)
    found = admit(session, runtime.endpoint_id, runtime.base_url, count, runtime.journal)
    return found or estimate(runtime.endpoint_id, runtime.base_url, count, runtime.journal)


# -- cancelling what passes it ---------------------------------------------------------


def stop_reason(job: Any) -> str | None:
    """Why the budget cancelled ``job`` (``None`` if it did not)."""
    from rp_jupyter.jobs.engine import Engine
    from rp_jupyter.jobs.session import session_of

    engine = Engine.peek()  # no engine: nothing of this process was cancelled
    return None if engine is None else session_of(engine).stopped.get(job.id)


def start_watch(session: Session) -> None:
    """Watch the session's running jobs against its limits (once; from any thread)."""
    engine = session.engine
    if engine is None or session.watching:
        return
    session.watching = True
    engine.spawn_threadsafe(_watch(session))


async def _watch(session: Session) -> None:
    from rp_jupyter.jobs.journal import JobJournal

    journal = JobJournal.open()
    held: dict[int, Any] = {}
    session.wake = asyncio.Event()
    try:
        while session.limits.any:
            session.wake.clear()
            _hold(session, held)
            breach, pause = _look(session, journal)
            if breach is not None:
                await _cancel_running(session, journal, breach)
            try:
                await asyncio.wait_for(session.wake.wait(), pause)
            except asyncio.TimeoutError:
                pass
    finally:
        session.watching, session.wake = False, None
        for job in held.values():
            job._watch(-1)


def _hold(session: Session, held: dict[int, Any]) -> None:
    """Watch the session's unfinished jobs as a panel would, so that the engine sees each
    one start (its cost runs from then) and what it streams; let go of finished ones."""
    unfinished = {id(job): job for job in session.unfinished()}
    for key in [key for key in held if key not in unfinished]:
        held.pop(key)._watch(-1)
    for key, job in unfinished.items():
        if key not in held:
            held[key] = job
            job._watch(+1)


def _look(session: Session, journal: Any) -> tuple[str | None, float]:
    """Why the running jobs must stop now (they would pass a limit before another look
    could stop them), and how long until the next look: sooner as a limit nears."""
    running = [job for job in session.unfinished() if str(job.status) == "IN_PROGRESS"]
    rate = sum(cost.per_second or 0.0 for cost in map(job_cost, running) if cost.known)
    if not rate:
        return None, CHECK_EVERY
    spent = session.spending().total
    limits = [("the session budget", session.limits.session, spent)]
    if session.limits.per_day is not None:
        limits.append(("today's budget", session.limits.per_day,
                       spent_today(session, journal)))
    pause = CHECK_EVERY
    for name, limit, used in limits:
        if limit is None:
            continue
        seconds_left = (limit - used) / rate
        if seconds_left <= MIN_CHECK:
            return (f"cancelled to keep within {name} of {dollars(limit)} "
                    f"({dollars(used)} spent)"), CHECK_EVERY
        pause = min(pause, max(MIN_CHECK, seconds_left / 2))
    return None, pause


async def _cancel_running(session: Session, journal: Any, breach: str) -> None:
    jobs = [job for job in session.unfinished() if job_cost(job).source != "local"]
    for job in jobs:
        session.stopped[job.id] = breach
        if job.journal_key is not None:
            journal.record_note(job.journal_key, breach)
    await asyncio.gather(*(job.acancel() for job in jobs), return_exceptions=True)
