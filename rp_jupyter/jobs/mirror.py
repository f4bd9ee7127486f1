"""``Mirror``: a job another live process follows (and journals), seen from this one.

Its status is read from the server now and then and shown here without journaling; its
end (chunks, output, error) is read from the journal that process writes.  If that process
stops (or its lease lapses), this one claims the job and follows it itself.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from rp_jupyter.api.errors import JobNotFoundError
from rp_jupyter.jobs.backoff import backoff
from rp_jupyter.jobs.retention import priority
from rp_jupyter.jobs.tracking_policy import POLL_INITIAL, POLL_MAX

if TYPE_CHECKING:
    from rp_jupyter.api.client import EndpointClient
    from rp_jupyter.jobs.job import Job
    from rp_jupyter.jobs.job_sink import JobSink
    from rp_jupyter.jobs.journal import JobJournal

__all__ = ["Mirror"]


class Mirror:
    """See the module docstring.

    Example::

        if await Mirror(job, client=client, sink=sink, journal=journal).run():
            ...  # claimed: follow the job from here
    """

    def __init__(self, job: Job, *, client: EndpointClient, sink: JobSink,
                 journal: JobJournal) -> None:
        self.job = job
        self.client = client
        self.sink = sink
        self.journal = journal

    async def run(self) -> bool:
        """Mirror the job until it is final (False) or this process has claimed it (True).
        Trouble (the server unreachable, the journal busy) is shown on the job and tried
        again after a backoff."""
        job, failures = self.job, 0
        while not job.is_final:
            try:
                seen = await self._look()
            except Exception as exc:
                failures += 1
                job._set_tracking_error(exc)
                await asyncio.sleep(backoff(failures))
                continue
            if failures:
                failures = 0
                job._set_tracking_error(None)
            if seen in (FINAL, CLAIMED):
                return seen is CLAIMED
            await asyncio.sleep(POLL_MAX if seen is RUNNING else POLL_INITIAL * 4)
        return False

    async def _look(self) -> str:
        """The journal's end, a claim, or the server's status: FINAL, CLAIMED, RUNNING or
        ENDING (the server says final; the owner is journaling it)."""
        job, journal = self.job, self.journal
        record = journal.get(job.journal_key) if job.journal_key is not None else None
        if record is not None and record.final:
            self.sink.from_record(job, record)
            return FINAL
        claimed = await asyncio.wrap_future(journal.claim_orphans(
            base_url=job.base_url, endpoint_id=job.endpoint_id, job_id=job.id, mine_too=True))
        if claimed:
            return CLAIMED
        try:
            doc = await self.client.status(job.id, priority=priority(job))
        except JobNotFoundError:
            return ENDING  # the owner notices too and journals the end
        if doc.status.is_final:
            return ENDING
        self.sink.mirrored_status(job, doc)
        return RUNNING


FINAL, CLAIMED, RUNNING, ENDING = "final", "claimed", "running", "ending"
