"""Cancelling many jobs at once, every one of them tried whatever happens to the others.

Example::

    for job, problem in cancel_each(jobs):
        if problem:
            print(f"could not cancel {job.id}: {problem}")
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rp_jupyter.jobs.job import Job

__all__ = ["cancel_each"]


def cancel_each(jobs: Sequence[Job]) -> list[tuple[Job, str | None]]:
    """Send every cancel at once; each job with ``None``, or the one-line reason its cancel
    failed (already free of secrets, like every rp_jupyter error)."""
    from rp_jupyter.jobs.engine import Engine

    async def cancel_all() -> list[str | None]:
        return list(await asyncio.gather(*(_cancel(job) for job in jobs)))

    return list(zip(jobs, Engine.get().call(cancel_all()), strict=True))


async def _cancel(job: Job) -> str | None:
    try:
        await job.acancel()
    except Exception as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return None
