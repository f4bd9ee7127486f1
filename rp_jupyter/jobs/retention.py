"""How long the server keeps a job: which job to serve first, and when one is gone for good."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rp_jupyter.wire_rules import RUN_RETENTION, RUNSYNC_RETENTION, TTL_DEFAULT_MS

if TYPE_CHECKING:
    from rp_jupyter.jobs.job import Job
    from rp_jupyter.jobs.journal import JobJournal

__all__ = ["gone_by", "priority"]


def priority(job: Job) -> float:
    """Lower goes first: the time by which the server may forget the job."""
    window = RUNSYNC_RETENTION if job.mode == "runsync" else RUN_RETENTION
    ttl = ((job.request.body.get("policy") or {}).get("ttl") if job.request else None)
    if ttl:
        window = min(window, ttl / 1000)
    return job.submitted_at + window


def gone_by(job: Job, journal: JobJournal) -> float:
    """The Unix time after which the server cannot know ``job`` any more: its ttl (default
    24 h) from submission, then the result's retention (a job lives at most its ttl, and
    its result is kept at most RUN_RETENTION after that)."""
    if job.request is not None:
        policy = job.request.body.get("policy") or {}
    else:
        try:
            record = journal.get(job.journal_key) if job.journal_key is not None else None
        except Exception:  # the journal cannot be read now: assume the longest
            record = None
        policy = (record.request.get("policy") if record else None) or {}
    ttl = (policy.get("ttl") or TTL_DEFAULT_MS) / 1000
    return job.submitted_at + ttl + RUN_RETENTION
