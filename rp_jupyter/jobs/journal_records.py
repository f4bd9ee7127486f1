"""What the journal hands back (:class:`JobRecord`), and its bulk chores: pruning, export."""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rp_jupyter.api.models import MISSING
from rp_jupyter.env_names import MAX_AGE_DAYS_ENV, MAX_JOBS_ENV, MAX_MB_ENV

if TYPE_CHECKING:
    from rp_jupyter.jobs.journal import JobJournal

__all__ = [
    "MAYBE_ACCEPTED",
    "SUBMIT_FAILED",
    "JobRecord",
    "export_records",
    "limits_from_environment",
    "owner_is_gone",
    "prune_ops",
    "record_from_row",
]

# Journal-only statuses of a request that got no job id back.
SUBMIT_FAILED = "SUBMIT_FAILED"  # refused: the server did not take it
MAYBE_ACCEPTED = "MAYBE_ACCEPTED"  # the answer was lost after sending: it may be running
MAYBE_ACCEPTED_NOTE = (
    "may have been accepted: the answer was lost after the request was sent, so it was not "
    "sent again; look for it in the endpoint's queue and jobs before sending it again")


# prune() argument -> (environment variable, unit in the argument's terms)
LIMIT_VARIABLES = {
    "max_age": (MAX_AGE_DAYS_ENV, 86400.0),
    "max_jobs": (MAX_JOBS_ENV, 1),
    "max_bytes": (MAX_MB_ENV, 1024 * 1024),
}

@dataclass(frozen=True)
class JobRecord:
    """One journaled job.  The output and chunks are read from disk only when asked for."""

    key: int
    job_id: str | None
    endpoint_id: str
    base_url: str
    mode: str
    status: str
    final: bool
    request: dict[str, Any]
    input_hash: str
    request_hash: str
    created_at: float
    submitted_at: float | None
    started_at: float | None
    finished_at: float | None
    updated_at: float
    delay_ms: int | None
    execution_ms: int | None
    worker_id: str | None
    error: Any
    attempt: int
    chunk_count: int
    output_bytes: int | None
    output_preview: str | None
    note: str | None
    stream_gap: bool  # the stream of the latest attempt may be missing chunks
    cost: float | None  # dollars, once final (None: unknown, or not final yet)
    cost_source: str | None  # output.cost | price | gpu | local | unknown
    price: float | None  # the dollars per second it was costed at
    origin: str | None  # the notebook (or script) that sent it
    journal: JobJournal = field(repr=False, compare=False)

    @property
    def input(self) -> Any:
        return self.request.get("input")

    @property
    def has_output(self) -> bool:
        return self.output_bytes is not None

    def output(self) -> Any:
        """The stored output (``MISSING`` when the server sent none)."""
        text = self.journal.output_text(self.key)
        return MISSING if text is None else json.loads(text)

    def chunks(self) -> list[Any]:
        """Every stream chunk of the latest attempt, in order."""
        return [json.loads(t) for t in self.journal.chunk_texts(self.key, self.attempt)]

    def events(self) -> list[tuple[float, str, str | None]]:
        """The status history: ``(unix time, status, detail)``."""
        return self.journal.events(self.key)

    def to_dict(self, *, output: bool = True, chunks: bool = True) -> dict[str, Any]:
        data = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in ("journal", "final")
        }
        data["final"] = self.final
        if output:
            value = self.output()
            data["output"] = None if value is MISSING else value
        if chunks:
            data["chunks"] = self.chunks()
        return data


def record_from_row(journal: JobJournal, row: sqlite3.Row) -> JobRecord:
    error = row["error"]
    return JobRecord(
        key=row["key"],
        job_id=row["job_id"],
        endpoint_id=row["endpoint_id"],
        base_url=row["base_url"],
        mode=row["mode"],
        status=row["status"],
        final=bool(row["final"]),
        request=json.loads(row["request"]),
        input_hash=row["input_hash"],
        request_hash=row["request_hash"],
        created_at=row["created_at"],
        submitted_at=row["submitted_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        updated_at=row["updated_at"],
        delay_ms=row["delay_ms"],
        execution_ms=row["execution_ms"],
        worker_id=row["worker_id"],
        error=json.loads(error) if error is not None else None,
        attempt=row["attempt"],
        chunk_count=row["chunk_count"],
        output_bytes=row["output_bytes"],
        output_preview=row["output_preview"],
        note=row["note"],
        stream_gap=bool(row["stream_gap"]),
        cost=row["cost"],
        cost_source=row["cost_source"],
        price=row["price"],
        origin=row["origin"],
        journal=journal,
    )


def owner_is_gone(row: sqlite3.Row, now: float) -> bool:
    """True when the process that followed this job has stopped (or its lease lapsed)."""
    if row["lease_until"] is None or row["lease_until"] < now:
        return True
    if row["owner_host"] == socket.gethostname() and row["owner_pid"]:
        return not _pid_alive(int(row["owner_pid"]))
    return False


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed, not yet reaped by its parent) is gone for our purposes
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def prune_ops(
    max_age: float | None, max_jobs: int | None, max_bytes: int | None, journal: JobJournal
):
    """A write op deleting the oldest final jobs until every given limit holds."""

    def op(conn: sqlite3.Connection) -> int:
        removed = 0
        if max_age is not None:
            cur = conn.execute("DELETE FROM jobs WHERE final = 1 AND created_at < ?",
                               (time.time() - max_age,))
            removed += cur.rowcount
        if max_jobs is not None:
            total = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
            excess = total - max_jobs
            if excess > 0:
                cur = conn.execute(
                    "DELETE FROM jobs WHERE key IN (SELECT key FROM jobs WHERE final = 1 "
                    "ORDER BY created_at LIMIT ?)", (excess,))
                removed += cur.rowcount
        if max_bytes is not None:
            removed += _prune_to_bytes(conn, max_bytes)
        return removed

    return op


def _prune_to_bytes(conn: sqlite3.Connection, max_bytes: int) -> int:
    """Delete oldest final jobs until the stored requests, outputs and chunks fit in
    ``max_bytes``."""
    total = conn.execute(
        "SELECT coalesce((SELECT sum(length(request)) FROM jobs), 0) + "
        "coalesce((SELECT sum(length(output)) FROM outputs), 0) + "
        "coalesce((SELECT sum(length(data)) FROM chunks), 0)").fetchone()[0]
    removed = 0
    rows = conn.execute(
        "SELECT key, coalesce(output_bytes, 0) + length(request) AS size FROM jobs "
        "WHERE final = 1 ORDER BY created_at").fetchall()
    for row in rows:
        if total <= max_bytes:
            break
        chunk_bytes = conn.execute("SELECT coalesce(sum(length(data)), 0) FROM chunks "
                                   "WHERE key = ?", (row["key"],)).fetchone()[0]
        conn.execute("DELETE FROM jobs WHERE key = ?", (row["key"],))
        total -= row["size"] + chunk_bytes
        removed += 1
    return removed


def export_records(records: list[JobRecord], file: str | Path | Any) -> int:
    """Write records as JSON Lines to a path or an open text file."""
    if isinstance(file, (str, Path)):
        with open(file, "w", encoding="utf-8") as handle:
            return export_records(records, handle)
    for record in records:
        file.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
    return len(records)


def limits_from_environment() -> dict[str, Any]:
    """The journal's size and age limits from the environment, as :meth:`JobJournal.prune`
    arguments; a value that is not a positive number is ignored with a warning."""
    limits: dict[str, Any] = {}
    for name, (variable, unit) in LIMIT_VARIABLES.items():
        text = os.environ.get(variable, "").strip()
        if not text:
            continue
        try:
            value = float(text)
            if value <= 0:
                raise ValueError
        except ValueError:
            logging.getLogger("rp_jupyter.jobs").warning(
                "%s=%r is not a positive number; ignored", variable, text)
            continue
        limits[name] = int(value * unit) if name != "max_age" else value * unit
    return limits
