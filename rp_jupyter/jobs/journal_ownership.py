"""Who follows which job: the journal's ownership leases, so two processes never follow
(or write) the same job.

The process that submits a job owns it and renews its lease while it runs; another process
claims a job whose owner has stopped or let its lease lapse.  Writes about a job's progress
check, inside their transaction, that this process still owns it (:class:`LeaseLost`).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable
from concurrent.futures import Future
from typing import Any

from rp_jupyter.jobs.journal_records import MAYBE_ACCEPTED, owner_is_gone
from rp_jupyter.jobs.journal_store import Write

__all__ = ["LEASE_SECONDS", "JournalOwnership", "LeaseLost"]

LEASE_SECONDS = 30.0


class LeaseLost(Exception):
    """A write about a job this process no longer owns (another process claimed it after
    this one's lease lapsed) was refused: stop following it."""

    def __init__(self, key: int) -> None:
        super().__init__(f"journal record {key} is owned by another process now")
        self.key = key


class JournalOwnership:
    """The ownership half of :class:`~rp_jupyter.jobs.journal.JobJournal`."""

    owner: str

    def write(self, op: Write) -> Future[Any]:  # pragma: no cover - JobJournal's
        raise NotImplementedError

    def _execute(self, sql: str, params: tuple[Any, ...]) -> Future[None]:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(sql, params)

        return self.write(op)

    def _check_owner(self, conn: sqlite3.Connection, key: int) -> None:
        """Refuse (inside the write's transaction) a write about a job another process owns."""
        row = conn.execute("SELECT owner FROM jobs WHERE key = ?", (key,)).fetchone()
        if row is not None and row[0] is not None and row[0] != self.owner:
            raise LeaseLost(key)

    def renew_leases(self, keys: Iterable[int] = ()) -> Future[list[int]]:
        """Renew this process's leases; return which of ``keys`` (jobs it follows) another
        process has claimed meanwhile."""
        followed = json.dumps(sorted(set(keys)))

        def op(conn: sqlite3.Connection) -> list[int]:
            conn.execute("UPDATE jobs SET lease_until = ? WHERE owner = ? AND final = 0",
                         (time.time() + LEASE_SECONDS, self.owner))
            rows = conn.execute(
                "SELECT key FROM jobs WHERE key IN (SELECT value FROM json_each(?)) "
                "AND final = 0 AND owner IS NOT ?", (followed, self.owner)).fetchall()
            return [int(row[0]) for row in rows]

        return self.write(op)

    def release(self, key: int) -> Future[None]:
        """Give up following ``key`` so another process (or a later call) may take it."""
        return self._execute("UPDATE jobs SET lease_until = 0 WHERE key = ? AND owner = ?",
                             (key, self.owner))

    def claim_orphans(
        self, *, base_url: str | None = None, endpoint_id: str | None = None,
        job_id: str | None = None, base_url_like: str | None = None, mine_too: bool = False,
    ) -> Future[list[int]]:
        """Take over unfinished jobs whose follower died or let its lease lapse.
        ``mine_too``: also return the matching jobs this process holds already."""
        def op(conn: sqlite3.Connection) -> list[int]:
            now = time.time()
            sql = ("SELECT key, job_id, owner, owner_pid, owner_host, lease_until FROM jobs "
                   "WHERE final = 0")
            params: list[Any] = []
            for column, value in (("base_url", base_url), ("endpoint_id", endpoint_id),
                                  ("job_id", job_id)):
                if value is not None:
                    sql += f" AND {column} = ?"
                    params.append(value)
            if base_url_like is not None:
                sql += " AND base_url LIKE ?"
                params.append(base_url_like)
            claimed = []
            for row in conn.execute(sql, params).fetchall():
                if row["owner"] == self.owner:
                    if row["lease_until"] and row["lease_until"] >= now:
                        if mine_too:
                            claimed.append(int(row["key"]))
                        continue  # this process follows it already
                elif not owner_is_gone(row, now):
                    continue
                if row["job_id"] is None:  # died between send and reply
                    conn.execute(
                        "UPDATE jobs SET status = ?, final = 1, note = ?, updated_at = ? "
                        "WHERE key = ?",
                        (MAYBE_ACCEPTED, "the process stopped before the server answered: the "
                         "job may or may not have been accepted", now, row["key"]))
                    continue
                conn.execute(
                    "UPDATE jobs SET owner = ?, owner_pid = ?, owner_host = ?, lease_until = ? "
                    "WHERE key = ?",
                    (self.owner, os.getpid(), socket.gethostname(), now + LEASE_SECONDS,
                     row["key"]))
                claimed.append(int(row["key"]))
            return claimed

        return self.write(op)
