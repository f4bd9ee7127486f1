"""Ownership leases: while this process follows a job, the journal says so, and renews it.

Another process may claim a job whose lease has lapsed (or whose owner has stopped); see
:meth:`~rp_jupyter.jobs.journal.JobJournal.claim_orphans`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from rp_jupyter.jobs import _constants

if TYPE_CHECKING:
    from rp_jupyter.jobs.journal import JobJournal

__all__ = ["LeaseKeeper"]

log = logging.getLogger("rp_jupyter.jobs")


class LeaseKeeper:
    """Renews this process's leases every ``LEASE_RENEW_EVERY`` seconds.

    Example::

        engine.spawn(LeaseKeeper(journal).run())
    """

    def __init__(self, journal: JobJournal) -> None:
        self.journal = journal

    async def run(self) -> None:
        while True:
            await asyncio.sleep(_constants.LEASE_RENEW_EVERY)
            await asyncio.wrap_future(self.journal.renew_leases())
