"""The journal's SQLite plumbing: connections, and the one writer thread per file.

The writer batches whatever is queued into one transaction (each write in its own
savepoint, so one bad write cannot lose the others); callers that must know a write is on
disk wait on the future it returns.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

__all__ = ["BUSY_TIMEOUT_MS", "JournalClosedError", "JournalWriter", "Write", "connect"]

BUSY_TIMEOUT_MS = 30_000
MAX_BATCH = 512

Write = Callable[[sqlite3.Connection], Any]


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with a busy timeout, so several processes can share a file."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL once.  The switch needs the file to itself, and SQLite answers
    "database is locked" at once, without its busy handler, while another process opens the
    same new file: try again for up to the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class JournalClosedError(RuntimeError):
    """The journal was closed; open it again with ``JobJournal.open()``."""


class JournalWriter:
    """A daemon thread that runs queued writes in batched transactions.  It never dies of
    a failed write: the writes of a batch that could not be committed fail (their futures
    say why) and the next batch is tried afresh."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[tuple[Write, Future[Any]] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="rp_jupyter-journal",
                                        daemon=True)
        self._thread.start()

    def write(self, op: Write) -> Future[Any]:
        """Queue ``op(conn)`` to run inside the next transaction."""
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(JournalClosedError(f"the journal {self.path} is closed"))
                return future
            self._queue.put((op, future))
        return future

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        while True:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            try:
                conn = conn or connect(self.path)
                self._commit(conn, batch)
            except Exception as exc:  # no connection, or one that broke: try anew next time
                for _, future in batch:
                    _fail(future, exc)
                if conn is not None:
                    _close_quietly(conn)
                conn = None
            if stop:
                break
        if conn is not None:
            _close_quietly(conn)

    def _commit(self, conn: sqlite3.Connection, batch: list[tuple[Write, Future[Any]]]) -> None:
        # from here on a waiter can no longer cancel; a cancelled one still gets its write
        wanted = [future.set_running_or_notify_cancel() for _, future in batch]
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, future in batch:
                conn.execute("SAVEPOINT op")
                try:
                    results.append((future, op(conn), None))
                    conn.execute("RELEASE op")
                except Exception as exc:  # one bad op must not lose the others
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((future, None, exc))
            conn.execute("COMMIT")
        except Exception as exc:  # e.g. locked past the busy timeout, or the disk is full
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            for (_, future), want in zip(batch, wanted, strict=True):
                if want:
                    future.set_exception(exc)
            return
        for (future, value, error), want in zip(results, wanted, strict=True):
            if not want:
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)


def _close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        pass


def _fail(future: Future[Any], exc: BaseException) -> None:
    if future.done():
        return
    if future.running() or future.set_running_or_notify_cancel():
        future.set_exception(exc)
