"""Orphans: unfinished jobs left in the journal by processes that have stopped.

When the engine starts, this process claims them and follows them to their end, so a job
started in a kernel that was restarted still gets its result journaled.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from rp_jupyter.api.redact import Secret
from rp_jupyter.env_names import API_KEY_ENV
from rp_jupyter.jobs.key_scope import env_key_for

if TYPE_CHECKING:
    from rp_jupyter.jobs.journal import JobJournal
    from rp_jupyter.jobs.journal_records import JobRecord

__all__ = ["claim_orphans", "key_for"]


async def claim_orphans(journal: JobJournal) -> list[JobRecord]:
    """Claim every orphan this process can follow; return their records.

    Without a key the hosted API cannot be followed: those wait for an ``Endpoint`` that
    has one (it adopts its own endpoint's orphans when it starts).
    """
    base_url = None if os.environ.get(API_KEY_ENV) else "http://%"
    keys = await asyncio.wrap_future(journal.claim_orphans(base_url_like=base_url))
    records = [journal.get(key) for key in keys]
    return [r for r in records if r is not None and r.job_id is not None]


def key_for(record: JobRecord) -> Secret | None:
    """The API key an adopted job is followed with: the environment's, only where it
    belongs (never to a loopback port another process may hold by now)."""
    return env_key_for(record.base_url)
