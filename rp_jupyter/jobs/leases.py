"""Ownership leases: while this process follows a job, the journal says so, and renews it.

Another process may claim a job whose lease has lapsed (this one was paused, or too busy
to renew) or whose owner has stopped; see
:meth:`~rp_jupyter.jobs.journal.JobJournal.claim_orphans`.  The keeper notices a claimed
job at its next renewal and hands it back to be watched, not followed: two processes
never follow the same job.  A renewal that fails (a busy or full journal) is logged and
tried again at the next round; it never stops the keeper.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from rp_jupyter.jobs import tracking_policy

if TYPE_CHECKING:
    from rp_jupyter.jobs.job import Job
    from rp_jupyter.jobs.journal import JobJournal

__all__ = ["LeaseKeeper"]

log = logging.getLogger("rp_jupyter.jobs")


class LeaseKeeper:
    """Renews this process's leases every ``LEASE_RENEW_EVERY`` seconds.

    ``followed()`` gives the jobs this process follows (by journal key);
    ``lost(job)`` is called for each one another process has claimed.

    Example::

        engine.spawn(LeaseKeeper(journal, followed=..., lost=...).run())
    """

    def __init__(self, journal: JobJournal, *, followed: Callable[[], dict[int, Job]],
                 lost: Callable[[Job], None]) -> None:
        self.journal = journal
        self.followed = followed
        self.lost = lost
        self.failures = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(tracking_policy.LEASE_RENEW_EVERY)
            await self.renew()

    async def renew(self) -> None:
        """One round: renew every lease, then give up the jobs another process claimed."""
        try:
            followed = self.followed()
            claimed = await asyncio.wrap_future(self.journal.renew_leases(followed))
        except Exception as exc:
            self.failures += 1
            log.warning("could not renew job leases (%s); trying again in %g s", exc,
                        tracking_policy.LEASE_RENEW_EVERY)
            return
        self.failures = 0
        for key in claimed:
            job = followed.get(key)
            if job is not None and not job.is_final:
                try:
                    self.lost(job)
                except Exception:
                    log.exception("could not hand job %s over to its new owner", job.id)
