"""The journal's read path for users: ``rp_jupyter.jobs(...)`` and ``rp_jupyter.result(id)``."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from rp_jupyter.api.errors import JobNotFoundError
from rp_jupyter.jobs.journal import JobJournal, JobRecord
from rp_jupyter.jobs.key_scope import env_key_for
from rp_jupyter.jobs.local_endpoints import settle_stopped_local_jobs
from rp_jupyter.jobs.runtime import job_from_record

__all__ = ["jobs", "result"]


def jobs(
    endpoint: str | None = None,
    *,
    status: str | Iterable[str] | None = None,
    since: float | None = None,
    until: float | None = None,
    last: float | None = None,
    limit: int | None = 50,
) -> list[JobRecord]:
    """Journaled jobs, newest first.

    ``since`` / ``until`` are Unix times; ``last`` is a number of seconds back from now.

    Example::

        for record in rp_jupyter.jobs("my-endpoint", status="COMPLETED", last=3600):
            print(record.job_id, record.finished_at, record.output_preview)
    """
    if last is not None:
        since = time.time() - last
    journal = JobJournal.open()
    settle_stopped_local_jobs(journal)
    return journal.list(endpoint_id=endpoint, status=status, since=since, until=until,
                        limit=limit)


def result(job_id: str, *, endpoint: str | None = None, timeout: float | None = None) -> Any:
    """The output of a job, from the journal when it is there (even after the server has
    forgotten the job, or the kernel has restarted); an unfinished job is followed to its
    end first.  Raises the job's error (failed, cancelled, timed out) like ``Job.result``.

    Example::

        rp_jupyter.result("6c1f0f4e-...-u1")
    """
    journal = JobJournal.open()
    record = journal.find(job_id, endpoint_id=endpoint)
    if record is None:
        raise JobNotFoundError(
            f"job {job_id} is not in the journal ({journal.path})",
            status_code=None, operation="result",
            hint="attach jobs submitted elsewhere with Endpoint(endpoint_id).job(job_id)",
        )
    if record.final:
        return job_from_record(record, None).result()
    from rp_jupyter.jobs.endpoint import Endpoint

    key = env_key_for(record.base_url)  # "" sends none: the key stays off other hosts
    ep = Endpoint(record.endpoint_id, base_url=record.base_url,
                  api_key=key.reveal() if key else "")
    return ep.job(job_id).result(timeout)
