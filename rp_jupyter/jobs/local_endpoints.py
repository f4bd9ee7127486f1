"""Is a base URL a local endpoint (on loopback), and has it stopped?

A local endpoint lives in one process (a kernel's ``%runpod local``, ``rp-jupyter serve``)
and keeps its jobs in memory: once nothing listens on its port any more, its unfinished
jobs can never finish.  A hosted URL that refuses connections is only unreachable for now.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rp_jupyter.wire_rules import UNFINISHED_STATUSES

if TYPE_CHECKING:
    from rp_jupyter.jobs.journal import JobJournal

__all__ = ["PROBE_TIMEOUT", "has_stopped", "is_local", "local_endpoint_gone",
           "settle_stopped_local_jobs"]

PROBE_TIMEOUT = 1.0  # seconds for one connection attempt to a loopback port


def is_local(base_url: str) -> bool:
    """True for a loopback URL (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_endpoint_gone(base_url: str) -> bool:
    """True when ``base_url`` is a local endpoint whose port refuses connections."""
    if not is_local(base_url):
        return False
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=PROBE_TIMEOUT):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:  # a timeout or another trouble: not proof that it stopped
        return False


async def has_stopped(base_url: str) -> bool:
    """:func:`local_endpoint_gone` from an event loop (the probe runs off the loop)."""
    if not is_local(base_url):
        return False
    return await asyncio.get_running_loop().run_in_executor(None, local_endpoint_gone,
                                                            base_url)


def settle_stopped_local_jobs(journal: JobJournal) -> int:
    """Mark LOST every unfinished journaled job of a local endpoint that has stopped (one
    probe per endpoint), so lists and tables never show it as running.  Returns how many."""
    unfinished = journal.list(status=UNFINISHED_STATUSES, final=False, limit=None)
    gone: dict[str, bool] = {}
    marked = 0
    for record in unfinished:
        if record.final or record.job_id is None or not is_local(record.base_url):
            continue
        if record.base_url not in gone:
            gone[record.base_url] = local_endpoint_gone(record.base_url)
        if gone[record.base_url] and journal.record_lost(record.key).result(timeout=30):
            marked += 1
    return marked
