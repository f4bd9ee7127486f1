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

from rp_jupyter.env_names import HOME_ENV
from rp_jupyter.jobs.journal_ownership import LEASE_SECONDS, JournalOwnership, LeaseLost
from rp_jupyter.jobs.journal_records import (
    MAYBE_ACCEPTED,
    MAYBE_ACCEPTED_NOTE,
    SUBMIT_FAILED,
    JobRecord,
    record_from_row,
)
from rp_jupyter.jobs.journal_recovery import open_file
from rp_jupyter.jobs.journal_store import (
    JournalClosedError,
    JournalWriter,
    Write,
    connect,
)

__all__ = ["JobJournal", "JobRecord", "LeaseLost", "default_journal_path"]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
PREVIEW_CHARS = 240
PROGRESS_CHARS = 2_000  # of one progress update's JSON kept in its event
PROGRESS_DETAIL = "progress "  # an event whose detail starts so is a progress update
LOST_NOTE = "the local endpoint running it stopped before it finished"


def default_journal_path() -> Path:
    """``$RP_JUPYTER_HOME/journal.sqlite3``, or the platform's user data folder."""
    home = os.environ.get(HOME_ENV)
    if not home:
        import platformdirs

        home = platformdirs.user_data_dir("rp_jupyter", appauthor=False)
    return Path(home).expanduser() / "journal.sqlite3"


class JobJournal(JournalOwnership):
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
        open_file(self.path)  # a file SQLite cannot read is moved aside first
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
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
                from rp_jupyter.jobs.output_files import use_saved_pictures

                use_saved_pictures(journal)  # pictures given as URLs: the saved copies first
            return journal

    # -- writes ---------------------------------------------------------------

    def write(self, op: Write) -> Future[Any]:
        """Queue ``op(conn)`` to run inside the writer's next transaction."""
        return self._writer.write(op)

    def flush(self, timeout: float | None = 10.0) -> None:
        """Block until everything queued so far is committed."""
        self.write(lambda conn: None).result(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Write what is queued, then close every connection; a later :meth:`open` of the
        same file gives a new, working journal."""
        with JobJournal._instances_lock:
            if JobJournal._instances.get(self.path) is self:
                del JobJournal._instances[self.path]
        self._closed = True
        self._writer.close()
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    # -- reads ---------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise JournalClosedError(f"the journal {self.path} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
            with self._readers_lock:
                self._readers.append(conn)
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

    def find_prefix(self, prefix: str, *, limit: int = 2) -> list[JobRecord]:
        """The newest record of each job whose id starts with ``prefix`` (at most ``limit``
        jobs: two are enough to say a prefix is ambiguous)."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._query(
            "SELECT * FROM jobs WHERE job_id LIKE ? ESCAPE '\\' ORDER BY created_at DESC",
            (pattern,))
        found: dict[str, JobRecord] = {}
        for row in rows:
            if row["job_id"] not in found:
                found[row["job_id"]] = record_from_row(self, row)
                if len(found) >= limit:
                    break
        return list(found.values())

    def list(
        self,
        *,
        endpoint_id: str | None = None,
        status: str | Iterable[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        final: bool | None = None,
        limit: int | None = 100,
    ) -> list[JobRecord]:
        """Journaled jobs, newest first, filtered by endpoint, status, creation time and
        whether they are final (``final=False`` reads only the unfinished ones' index)."""
        clauses, params = [], []
        if final is not None:
            clauses.append("final = 1" if final else "final = 0")  # literal: the partial index
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

    def find_reusable(self, base_url: str, endpoint_id: str, request_hash: str,
                      scope: str | None = None) -> JobRecord | None:
        """The newest COMPLETED job with the same endpoint and request (for ``cache="use"``).

        ``scope`` is what the endpoint's owner says identifies its answers (a local
        endpoint's handler and code, also part of ``request_hash``); see :func:`reuse_scope`.
        """
        same_url, url = reuse_scope(base_url, scope)
        rows = self._query(  # by the request's own index, not a walk of the endpoint's jobs
            "SELECT * FROM jobs INDEXED BY jobs_for_reuse "
            f"WHERE request_hash = ? AND endpoint_id = ? AND {same_url} "
            "AND status = 'COMPLETED' ORDER BY finished_at DESC LIMIT 1",
            (request_hash, endpoint_id, url),
        )
        return record_from_row(self, rows[0]) if rows else None

    def output_text(self, key: int) -> str | None:
        rows = self._query("SELECT output FROM outputs WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def chunk_times(self, key: int, attempt: int) -> list[tuple[float, str]]:
        """``(when it was journaled, JSON)`` of every chunk of an attempt, in order."""
        rows = self._query(
            "SELECT at, data FROM chunks WHERE key = ? AND attempt = ? ORDER BY seq",
            (key, attempt))
        return [(row[0], row[1]) for row in rows]

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
        input_hash: str, request_hash: str, job_id: str | None = None,
        origin: str | None = None,
    ) -> Future[int]:
        """A request about to be sent; returns the record's key once it is on disk.
        ``job_id`` names it already when the client chooses the name (a chat reply);
        ``origin`` names the notebook (or script) sending it."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO jobs (job_id, endpoint_id, base_url, mode, status, request, "
                "input_hash, request_hash, created_at, updated_at, owner, owner_pid, "
                "owner_host, lease_until, origin) VALUES (?, ?, ?, ?, 'SUBMITTING', ?, ?, ?, ?, "
                "?, ?, ?, ?, ?, ?)",
                (job_id, endpoint_id, base_url, mode, json.dumps(request), input_hash,
                 request_hash, now, now, self.owner, os.getpid(), socket.gethostname(),
                 now + LEASE_SECONDS, origin),
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
        """The request failed.  ``maybe_sent``: the server may have accepted it anyway (the
        answer was lost after the request was sent), so it is MAYBE_ACCEPTED, not failed."""
        now = time.time()
        status = MAYBE_ACCEPTED if maybe_sent else SUBMIT_FAILED
        note = MAYBE_ACCEPTED_NOTE if maybe_sent else None

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
            self._check_owner(conn, key)
            sets, params = _field_updates(fields)
            cur = conn.execute(f"UPDATE jobs SET status = ?, updated_at = ?{sets} "
                               "WHERE key = ? AND final = 0", (status, now, *params, key))
            if cur.rowcount:  # a late answer never reopens a final record
                conn.execute("INSERT INTO events VALUES (?, ?, ?, NULL)", (key, now, status))

        return self.write(op)

    def record_stream_gap(self, key: int, attempt: int, detail: str) -> Future[None]:
        """Chunks of an attempt may be missing: a ``/stream`` answer was lost after the
        server handed them out.  Any process may say so (it is only ever more careful)."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute("UPDATE jobs SET stream_gap = 1, updated_at = ? "
                               "WHERE key = ? AND attempt = ?", (now, key, attempt))
            if cur.rowcount:
                conn.execute("INSERT INTO events SELECT key, ?, status, ? FROM jobs "
                             "WHERE key = ?", (now, "stream gap: " + detail, key))

        return self.write(op)

    def append_chunks(self, key: int, attempt: int, start: int, chunks: list[Any]) -> Future[None]:
        """Chunks ``start .. start+len-1`` of an attempt, in one batch."""
        now = time.time()
        rows = [(key, attempt, start + i, json.dumps(c), now) for i, c in enumerate(chunks)]

        def op(conn: sqlite3.Connection) -> None:
            self._check_owner(conn, key)
            conn.executemany("INSERT OR IGNORE INTO chunks VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("UPDATE jobs SET chunk_count = max(chunk_count, ?), updated_at = ? "
                         "WHERE key = ? AND attempt = ?", (start + len(chunks), now, key, attempt))

        return self.write(op)

    def record_final(
        self, key: int, status: str, fields: dict[str, Any], output_json: str | None,
        preview: str | None = None, *, chunks: tuple[int, list[Any]] | None = None,
        stream_gap: bool | None = None,
    ) -> Future[None]:
        """The final document: status, timings, error and the output (stored apart).
        ``preview`` is a readable one-line preview (default: the start of the JSON).
        ``chunks`` ``(attempt, all chunks)`` replaces the attempt's stored chunks (a stream
        reconciled from the final output); ``stream_gap`` sets whether it may miss some."""
        now = time.time()
        rows = None if chunks is None else [
            (key, chunks[0], seq, json.dumps(c), now) for seq, c in enumerate(chunks[1])]

        def op(conn: sqlite3.Connection) -> None:
            self._check_owner(conn, key)
            if rows is not None:
                conn.execute("DELETE FROM chunks WHERE key = ? AND attempt = ?",
                             (key, chunks[0]))
                conn.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?)", rows)
                conn.execute("UPDATE jobs SET chunk_count = ? WHERE key = ? AND attempt = ?",
                             (len(rows), key, chunks[0]))
            if stream_gap is not None:
                conn.execute("UPDATE jobs SET stream_gap = ? WHERE key = ?",
                             (int(stream_gap), key))
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
                "stream_gap = 0, "
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

        def op(conn: sqlite3.Connection) -> None:
            self._check_owner(conn, key)
            conn.execute("INSERT INTO events VALUES (?, ?, 'IN_PROGRESS', ?)", (key, now, detail))

        return self.write(op)

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

    def record_lost(self, key: int, note: str = LOST_NOTE) -> Future[bool]:
        """An unfinished job can never finish (its local endpoint stopped): LOST.  Any
        process may say so; a final record is left as it is.  True if it was changed."""
        now = time.time()

        def op(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE jobs SET status = 'LOST', final = 1, note = ?, updated_at = ?, "
                "finished_at = ?, lease_until = NULL WHERE key = ? AND final = 0",
                (note, now, now, key))
            if cur.rowcount:
                conn.execute("INSERT INTO events VALUES (?, ?, 'LOST', ?)", (key, now, note))
            return bool(cur.rowcount)

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
        from rp_jupyter.jobs.journal_records import limits_from_environment

        limits = limits_from_environment()
        return self.prune(**limits) if limits else 0

    def export_jsonl(self, file: str | Path | Any, **filters: Any) -> int:
        """Write the filtered jobs (with chunks and output) as JSON Lines; returns the count."""
        from rp_jupyter.jobs.journal_records import export_records

        return export_records(self.list(limit=None, **filters), file)


def reuse_scope(base_url: str, scope: str | None = None) -> tuple[str, str]:
    """SQL condition and parameter matching the base URLs whose answers count for
    ``base_url``: itself; or, for a local endpoint with a ``scope`` (its handler's
    identity and code, which the request hash holds too), the same host and path on any
    port, since it gets a new port each time it starts.  Without a scope a loopback port
    proves nothing about the code behind it, so only the same URL counts."""
    parts = urlsplit(base_url)
    if scope is not None and parts.hostname in LOOPBACK_HOSTS and parts.port is not None:
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
