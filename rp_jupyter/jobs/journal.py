"""The journal: every job, its chunks and its result, in SQLite on local disk.

One file (``journal.sqlite3`` under ``RP_JUPYTER_HOME``, default the platform's user data
folder), WAL mode with a busy timeout, so several kernels can share it.  Writes go through
one writer thread per process that batches whatever is queued into one transaction; callers
that must know a write is on disk (the request before it is sent, chunks before they are
shown) wait on the returned future.  Reads use a connection per thread.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from rp_jupyter.jobs.journal_records import JobRecord, record_from_row
from rp_jupyter.jobs.journal_schema import migrate
from rp_jupyter.jobs.journal_store import JournalWriter, Write, connect

__all__ = ["JobJournal", "JobRecord", "default_journal_path"]

HOME_ENV = "RP_JUPYTER_HOME"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
# prune() argument -> (environment variable, unit in the argument's terms)
LIMIT_VARIABLES = {
    "max_age": ("RP_JUPYTER_MAX_AGE_DAYS", 86400.0),
    "max_jobs": ("RP_JUPYTER_MAX_JOBS", 1),
    "max_bytes": ("RP_JUPYTER_MAX_MB", 1024 * 1024),
}
PREVIEW_CHARS = 240
PROGRESS_CHARS = 2_000  # of one progress update's JSON kept in its event
PROGRESS_DETAIL = "progress "  # an event whose detail starts so is a progress update
LEASE_SECONDS = 30.0


def default_journal_path() -> Path:
    """``$RP_JUPYTER_HOME/journal.sqlite3``, or the platform's user data folder."""
    home = os.environ.get(HOME_ENV)
    if not home:
        import platformdirs

        home = platformdirs.user_data_dir("rp_jupyter", appauthor=False)
    return Path(home).expanduser() / "journal.sqlite3"


class JobJournal:
    """Durable record of every job; see the module docstring.

    Example::

        journal = JobJournal.open()              # the default file
        for record in journal.list(endpoint_id="my-endpoint", limit=10):
            print(record.job_id, record.status)
    """

    _instances: ClassVar[dict[Path, JobJournal]] = {}
    _instances_lock = threading.Lock()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        setup = connect(self.path)
        try:
            migrate(setup)
        finally:
            setup.close()
        self._local = threading.local()
        self._writer = JournalWriter(self.path)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"

    @classmethod
    def open(cls, path: str | Path | None = None) -> JobJournal:
        """The journal at ``path`` (default: :func:`default_journal_path`), one per process."""
        resolved = Path(path or default_journal_path()).expanduser().resolve()
        with cls._instances_lock:
            journal = cls._instances.get(resolved)
            if journal is None:
                journal = cls._instances[resolved] = cls(resolved)
            return journal

    # -- writes ---------------------------------------------------------------

    def write(self, op: Write) -> Future[Any]:
        """Queue ``op(conn)`` to run inside the writer's next transaction."""
        return self._writer.write(op)

    def _execute(self, sql: str, params: tuple[Any, ...]) -> Future[None]:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(sql, params)

        return self.write(op)

    def flush(self, timeout: float | None = 10.0) -> None:
        """Block until everything queued so far is committed."""
        self.write(lambda conn: None).result(timeout)

    def close(self) -> None:
        self._writer.close()

    # -- reads ---------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._reader().execute(sql, tuple(params)).fetchall()

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """A read-only query on this thread's connection, for the modules that keep their
        own tables or summaries in the journal (prices, costs)."""
        return self._query(sql, params)

    def get(self, key: int) -> JobRecord | None:
        rows = self._query("SELECT * FROM jobs WHERE key = ?", (key,))
        return record_from_row(self, rows[0]) if rows else None

    def find(
        self, job_id: str, *, endpoint_id: str | None = None, base_url: str | None = None
    ) -> JobRecord | None:
        """The newest record of ``job_id`` (optionally on one endpoint)."""
        sql, params = "SELECT * FROM jobs WHERE job_id = ?", [job_id]
        if endpoint_id is not None:
            sql, params = sql + " AND endpoint_id = ?", [*params, endpoint_id]
        if base_url is not None:
            sql, params = sql + " AND base_url = ?", [*params, base_url]
        rows = self._query(sql + " ORDER BY created_at DESC LIMIT 1", params)
        return record_from_row(self, rows[0]) if rows else None

    def list(
        self,
        *,
        endpoint_id: str | None = None,
        status: str | Iterable[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = 100,
    ) -> list[JobRecord]:
        """Journaled jobs, newest first, filtered by endpoint, status and creation time."""
        clauses, params = [], []
        if endpoint_id is not None:
            clauses.append("endpoint_id = ?")
            params.append(endpoint_id)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(s.upper() for s in statuses)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(since)
        if until is not None:
            clauses.append("created_at <= ?")
            params.append(until)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        rows = self._query(f"SELECT * FROM jobs {where} ORDER BY created_at DESC, key DESC{tail}",
                           params)
        return [record_from_row(self, row) for row in rows]

    def find_reusable(self, base_url: str, endpoint_id: str, request_hash: str) -> JobRecord | None:
        """The newest COMPLETED job with the same endpoint and request (for ``cache="use"``).

        A local endpoint (a loopback URL) gets a new port each time it starts, so there the
        port is ignored: the same endpoint id on this machine is the same endpoint.
        """
        same_url, url = reuse_scope(base_url)
        rows = self._query(
            f"SELECT * FROM jobs WHERE request_hash = ? AND endpoint_id = ? AND {same_url} "
            "AND status = 'COMPLETED' ORDER BY finished_at DESC LIMIT 1",
            (request_hash, endpoint_id, url),
        )
        return record_from_row(self, rows[0]) if rows else None

    def output_text(self, key: int) -> str | None:
        rows = self._query("SELECT output FROM outputs WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def chunk_texts(self, key: int, attempt: int) -> list[str]:
        rows = self._query(
            "SELECT data FROM chunks WHERE key = ? AND attempt = ? ORDER BY seq", (key, attempt)
        )
        return [row[0] for row in rows]

    def events(self, key: int) -> list[tuple[float, str, str | None]]:
        rows = self._query("SELECT at, status, detail FROM events WHERE key = ? ORDER BY rowid",
                           (key,))
        return [(row[0], row[1], row[2]) for row in rows]

    def count(self) -> int:
        return self._query("SELECT count(*) FROM jobs")[0][0]

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))

    # -- the write path (each returns a Future) ------------------------------------------

    def record_submitting(
        self, *, base_url: str, endpoint_id: str, mode: str, request: dict[str, Any],
        input_hash: str, request_hash: str, origin: str | None = None,
    ) -> Future[int]:
        """A request about to be sent; returns the record's key once it is on disk.
        ``origin`` names the notebook (or script) sending it."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO jobs (endpoint_id, base_url, mode, status, request, input_hash, "
                "request_hash, created_at, updated_at, owner, owner_pid, owner_host, lease_until,"
                " origin) VALUES (?, ?, ?, 'SUBMITTING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (endpoint_id, base_url, mode, json.dumps(request), input_hash, request_hash,
                 now, now, self.owner, os.getpid(), socket.gethostname(), now + LEASE_SECONDS,
                 origin),
            )
            key = int(cur.lastrowid or 0)
            conn.execute("INSERT INTO events VALUES (?, ?, 'SUBMITTING', NULL)", (key, now))
            return key

        return self.write(op)

    def record_attached(
        self, *, base_url: str, endpoint_id: str, job_id: str, status: str
    ) -> Future[int]:
        """A job submitted elsewhere that this process now follows (request unknown)."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT key FROM jobs WHERE base_url = ? AND endpoint_id = ? AND job_id = ?",
                (base_url, endpoint_id, job_id)).fetchone()
            if row is not None:
                return int(row[0])
            cur = conn.execute(
                "INSERT INTO jobs (job_id, endpoint_id, base_url, mode, status, request, "
                "input_hash, request_hash, created_at, submitted_at, updated_at, owner, "
                "owner_pid, owner_host, lease_until, note) "
                "VALUES (?, ?, ?, 'run', ?, '{}', '', '', ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, endpoint_id, base_url, status, now, now, now, self.owner, os.getpid(),
                 socket.gethostname(), now + LEASE_SECONDS, "attached by id; request unknown"),
            )
            key = int(cur.lastrowid or 0)
            conn.execute("INSERT INTO events VALUES (?, ?, ?, 'attached')", (key, now, status))
            return key

        return self.write(op)

    def record_submitted(
        self, key: int, job_id: str, status: str, submitted_at: float | None = None
    ) -> Future[None]:
        """The server accepted the request (sent at ``submitted_at``) and named the job."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE jobs SET job_id = ?, status = ?, submitted_at = ?, updated_at = ?"
                         " WHERE key = ?", (job_id, status, submitted_at or now, now, key))
            conn.execute("INSERT INTO events VALUES (?, ?, ?, NULL)", (key, now, status))

        return self.write(op)

    def record_submit_failed(self, key: int, error: str, *, maybe_sent: bool) -> Future[None]:
        """The request failed.  ``maybe_sent``: the server may have accepted it anyway."""
        now = time.time()
        status = "SUBMITTING" if maybe_sent else "SUBMIT_FAILED"
        note = ("the connection dropped after the request was sent: the server may have "
                "accepted it; look for it on the endpoint") if maybe_sent else None

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE jobs SET status = ?, final = 1, error = ?, note = ?, "
                         "updated_at = ?, finished_at = ? WHERE key = ?",
                         (status, json.dumps(error), note, now, now, key))
            conn.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (key, now, status, error))

        return self.write(op)

    def record_status(self, key: int, status: str, fields: dict[str, Any]) -> Future[None]:
        """A non-final status change (with timings or worker id when known)."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            sets, params = _field_updates(fields)
            cur = conn.execute(f"UPDATE jobs SET status = ?, updated_at = ?{sets} "
                               "WHERE key = ? AND final = 0", (status, now, *params, key))
            if cur.rowcount:  # a late answer never reopens a final record
                conn.execute("INSERT INTO events VALUES (?, ?, ?, NULL)", (key, now, status))

        return self.write(op)

    def append_chunks(self, key: int, attempt: int, start: int, chunks: list[Any]) -> Future[None]:
        """Chunks ``start .. start+len-1`` of an attempt, in one batch."""
        now = time.time()
        rows = [(key, attempt, start + i, json.dumps(c), now) for i, c in enumerate(chunks)]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT OR IGNORE INTO chunks VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("UPDATE jobs SET chunk_count = max(chunk_count, ?), updated_at = ? "
                         "WHERE key = ? AND attempt = ?", (start + len(chunks), now, key, attempt))

        return self.write(op)

    def record_final(
        self, key: int, status: str, fields: dict[str, Any], output_json: str | None,
        preview: str | None = None,
    ) -> Future[None]:
        """The final document: status, timings, error and the output (stored apart).
        ``preview`` is a readable one-line preview (default: the start of the JSON)."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            sets, params = _field_updates(fields)
            shown = preview if preview is not None else output_json
            shown = shown[:PREVIEW_CHARS] if shown is not None else None
            size = len(output_json) if output_json is not None else None
            conn.execute(
                f"UPDATE jobs SET status = ?, final = 1, updated_at = ?, output_bytes = ?, "
                f"output_preview = ?, lease_until = NULL{sets} WHERE key = ?",
                (status, now, size, shown, *params, key),
            )
            if output_json is not None:
                conn.execute("INSERT OR REPLACE INTO outputs VALUES (?, ?)", (key, output_json))
            conn.execute("INSERT INTO events VALUES (?, ?, ?, NULL)", (key, now, status))

        return self.write(op)

    def record_retry(self, key: int, status: str) -> Future[int]:
        """``/retry`` accepted: a new attempt under the same id; the old output is dropped."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> int:
            conn.execute(
                "UPDATE jobs SET status = ?, final = 0, attempt = attempt + 1, chunk_count = 0, "
                "error = NULL, output_bytes = NULL, output_preview = NULL, finished_at = NULL, "
                "started_at = NULL, delay_ms = NULL, execution_ms = NULL, updated_at = ?, "
                "owner = ?, owner_pid = ?, owner_host = ?, lease_until = ? WHERE key = ?",
                (status, now, self.owner, os.getpid(), socket.gethostname(),
                 now + LEASE_SECONDS, key),
            )
            conn.execute("DELETE FROM outputs WHERE key = ?", (key,))
            conn.execute("INSERT INTO events VALUES (?, ?, ?, 'retry')", (key, now, status))
            return int(conn.execute("SELECT attempt FROM jobs WHERE key = ?", (key,)).fetchone()[0])

        return self.write(op)

    def record_progress(self, key: int, progress: Any) -> Future[None]:
        """A progress update from the worker, as an IN_PROGRESS event (never the output)."""
        now = time.time()
        try:
            encoded = json.dumps(progress, ensure_ascii=False, default=repr)
        except (TypeError, ValueError):
            encoded = json.dumps(repr(progress))
        detail = PROGRESS_DETAIL + encoded[:PROGRESS_CHARS]
        return self._execute("INSERT INTO events VALUES (?, ?, 'IN_PROGRESS', ?)",
                             (key, now, detail))

    def latest_progress(self, key: int) -> Any:
        """The newest progress update journaled for a job (``None`` if there is none)."""
        rows = self._query("SELECT detail FROM events WHERE key = ? AND detail LIKE ? "
                           "ORDER BY rowid DESC LIMIT 1", (key, PROGRESS_DETAIL + "%"))
        if not rows:
            return None
        try:
            return json.loads(rows[0][0][len(PROGRESS_DETAIL):])
        except ValueError:  # cut at PROGRESS_CHARS
            return rows[0][0][len(PROGRESS_DETAIL):]

    def record_note(self, key: int, note: str) -> Future[None]:
        return self._execute("UPDATE jobs SET note = ?, updated_at = ? WHERE key = ?",
                             (note, time.time(), key))

    # -- ownership, so two processes never follow the same job ----------------------------

    def renew_leases(self) -> Future[None]:
        return self._execute("UPDATE jobs SET lease_until = ? WHERE owner = ? AND final = 0",
                             (time.time() + LEASE_SECONDS, self.owner))

    def release(self, key: int) -> Future[None]:
        """Give up following ``key`` so another process (or a later call) may take it."""
        return self._execute("UPDATE jobs SET lease_until = 0 WHERE key = ? AND owner = ?",
                             (key, self.owner))

    def claim_orphans(
        self, *, base_url: str | None = None, endpoint_id: str | None = None,
        job_id: str | None = None, base_url_like: str | None = None,
    ) -> Future[list[int]]:
        """Take over unfinished jobs whose follower died or let its lease lapse."""
        from rp_jupyter.jobs.journal_records import owner_is_gone

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
                        continue  # this process follows it already
                elif not owner_is_gone(row, now):
                    continue
                if row["job_id"] is None:  # died between send and reply
                    conn.execute(
                        "UPDATE jobs SET final = 1, note = ?, updated_at = ? WHERE key = ?",
                        ("the process stopped before the server answered: the job may or may "
                         "not have been accepted", now, row["key"]))
                    continue
                conn.execute(
                    "UPDATE jobs SET owner = ?, owner_pid = ?, owner_host = ?, lease_until = ? "
                    "WHERE key = ?",
                    (self.owner, os.getpid(), socket.gethostname(), now + LEASE_SECONDS,
                     row["key"]))
                claimed.append(int(row["key"]))
            return claimed

        return self.write(op)

    # -- housekeeping ----------------------------------------------------------------------

    def prune(
        self, *, max_age: float | None = None, max_jobs: int | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Delete the oldest final jobs beyond the limits (age in seconds); returns how many."""
        from rp_jupyter.jobs.journal_records import prune_ops

        removed = self.write(prune_ops(max_age, max_jobs, max_bytes, self)).result()
        if removed:  # give the space back (a checkpoint cannot run inside a transaction)
            conn = connect(self.path)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
        return removed

    def prune_to_configured_limits(self) -> int:
        """:meth:`prune` with the limits set in the environment (``RP_JUPYTER_MAX_AGE_DAYS``,
        ``RP_JUPYTER_MAX_JOBS``, ``RP_JUPYTER_MAX_MB``); nothing when none is set."""
        limits = limits_from_environment()
        return self.prune(**limits) if limits else 0

    def export_jsonl(self, file: str | Path | Any, **filters: Any) -> int:
        """Write the filtered jobs (with chunks and output) as JSON Lines; returns the count."""
        from rp_jupyter.jobs.journal_records import export_records

        return export_records(self.list(limit=None, **filters), file)


def limits_from_environment() -> dict[str, Any]:
    """The journal's size and age limits from the environment, as :meth:`JobJournal.prune`
    arguments; a value that is not a positive number is ignored with a warning."""
    import logging

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


def reuse_scope(base_url: str) -> tuple[str, str]:
    """SQL condition and parameter matching the base URLs that count as ``base_url``:
    itself, or for a local endpoint the same host and path on any port."""
    parts = urlsplit(base_url)
    if parts.hostname in LOOPBACK_HOSTS and parts.port is not None:
        return "base_url GLOB ?", f"{parts.scheme}://{parts.hostname}:*{parts.path}"
    return "base_url = ?", base_url


def _field_updates(fields: dict[str, Any]) -> tuple[str, list[Any]]:
    allowed = ("started_at", "finished_at", "delay_ms", "execution_ms", "worker_id", "error",
               "note", "cost", "cost_source", "price")
    sets, params = "", []
    for name in allowed:
        if name in fields:
            value = fields[name]
            if name == "error" and value is not None:
                value = json.dumps(value)
            sets += f", {name} = ?"
            params.append(value)
    return sets, params
