"""``%runpod result [JOB]``: a job's result read from the journal, from any session, with no
endpoint needed, and a line saying where it came from.

``JOB`` is a variable holding a ``Job``, a job id or a unique prefix of one (this session's
jobs first, then the whole journal); with none, this session's newest job, or else the
journal's newest.  A job the journal holds as unfinished is asked of its endpoint when
that endpoint can be reached, else its status is said.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rp_jupyter.notebook.flag_values import job_id_flag
from rp_jupyter.notebook.usage import usage_error

if TYPE_CHECKING:
    from rp_jupyter.notebook.magics import RunpodMagics

__all__ = ["find_record", "read_result"]

PREFIX_MIN = 4


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "at an unknown time"


def _session_job(magics: RunpodMagics, token: str | None) -> Any:
    from rp_jupyter.jobs.job import Job

    if token is None:
        return magics.session_jobs[-1] if magics.session_jobs else None
    value = magics.shell.user_ns.get(token) if token.isidentifier() else None
    if isinstance(value, Job):
        return value
    matches = {j.id: j for j in magics.session_jobs if j.id.startswith(token)}
    if len(matches) > 1 and token not in matches:
        raise usage_error(f"{token!r} matches several jobs of this session",
                          "give more of the job id")
    return matches.get(token) or (next(iter(matches.values())) if matches else None)


def _journal_record(token: str | None) -> Any:
    from rp_jupyter.jobs.journal import JobJournal

    journal = JobJournal.open()
    if token is None:
        newest = journal.list(limit=1)
        if not newest:
            raise usage_error("the journal holds no job yet",
                              "run a cell with %%runpod run first")
        return newest[0]
    record = journal.find(token)
    if record is not None:
        return record
    found = journal.find_prefix(token) if len(token) >= PREFIX_MIN else []
    if len(found) > 1:
        raise usage_error(f"{token!r} is the start of several job ids in the journal "
                          f"({found[0].job_id}, {found[1].job_id}, ...)",
                          "give more of the job id")
    if not found:
        raise usage_error(f"no job {token!r} in the journal (nothing was asked of any endpoint)",
                          "%runpod jobs lists the jobs it holds; give a job id, a unique "
                          f"start of one ({PREFIX_MIN}+ characters), or a variable")
    return found[0]


def _from_record(magics: RunpodMagics, record: Any) -> tuple[Any, str]:
    from rp_jupyter.jobs.runtime import job_from_record

    where = (f"job {record.job_id} on endpoint {record.endpoint_id}, read from the journal "
             f"({record.status}, created {_when(record.created_at)})")
    if record.final:
        return job_from_record(record, None), where
    try:
        endpoint = magics.endpoint(record.endpoint_id, record.base_url)
    except Exception:
        raise usage_error(
            f"job {record.job_id} is {record.status} in the journal and its result is not "
            f"in yet; its endpoint {record.endpoint_id!r} cannot be reached from here",
            f"start or name that endpoint (%runpod local ... --id {record.endpoint_id}), "
            f"then %runpod result {record.job_id}") from None
    return endpoint.job(record.job_id), f"{where}, followed on its endpoint until it ends"


def find_record(magics: RunpodMagics, token: str | None) -> Any:
    """The journal record of the job ``token`` names, found as :func:`read_result` finds it
    (this session's jobs first, then the whole journal)."""
    from rp_jupyter.jobs.journal import JobJournal

    if token is not None:
        job_id_flag(token)
    job = _session_job(magics, token)
    if job is not None:
        journal = JobJournal.open()
        journal.flush()
        record = journal.find(job.id, endpoint_id=job.endpoint_id)
        if record is not None:
            return record
    return _journal_record(token)


def read_result(magics: RunpodMagics, token: str | None) -> Any:
    """The result of the job ``token`` names (see the module docstring); prints where it
    came from.  A failed job's error is raised as the magic's one-line message."""
    if token is not None:
        job_id_flag(token)  # an id that would leave its route is refused at once
    job = _session_job(magics, token)
    if job is not None:
        origin = ("read from the journal" if job.source == "journal"
                  else "this session's job, kept in the journal")
        where = f"job {job.id} on endpoint {job.endpoint_id}, {origin}"
    else:
        job, where = _from_record(magics, _journal_record(token))
    print(f"Result of {where}")
    return job.result()
