"""The journal's SQLite plumbing: connections, and the one writer thread per file.

The writer batches whatever is queued into one transaction (each write in its own
savepoint, so one bad write cannot lose the others); callers that must know a write is on
disk wait on the future it returns.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

__all__ = ["BUSY_TIMEOUT_MS", "JournalWriter", "Write", "connect"]

BUSY_TIMEOUT_MS = 30_000
MAX_BATCH = 512

Write = Callable[[sqlite3.Connection], Any]


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with a busy timeout, so several processes can share a file."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row
    return conn


class JournalWriter:
    """A daemon thread that runs queued writes in batched transactions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[tuple[Write, Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="rp_jupyter-journal",
                                        daemon=True)
        self._thread.start()

    def write(self, op: Write) -> Future[Any]:
        """Queue ``op(conn)`` to run inside the next transaction."""
        future: Future[Any] = Future()
        self._queue.put((op, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        conn = connect(self.path)
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
            self._commit(conn, batch)
            if stop:
                break
        conn.close()

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
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
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
