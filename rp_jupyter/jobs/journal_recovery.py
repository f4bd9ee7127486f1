"""Opening a journal file: brought up to the current schema, or, when SQLite cannot read it
(garbage bytes, a truncated copy), moved aside with a message and started anew, so a
damaged file never makes every cell fail.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import warnings
from pathlib import Path

from rp_jupyter.env_names import HOME_ENV
from rp_jupyter.jobs.journal_schema import migrate
from rp_jupyter.jobs.journal_store import connect

__all__ = ["is_corrupt", "open_file"]

log = logging.getLogger("rp_jupyter.jobs")

CORRUPT_CODES = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
SIDE_FILES = ("", "-wal", "-shm", "-journal")


def is_corrupt(exc: BaseException) -> bool:
    """True for SQLite's "malformed" and "not a database" errors (never for a busy or full
    database, which are passing troubles)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+
    if name is not None:
        return name in CORRUPT_CODES
    return type(exc) is sqlite3.DatabaseError


def open_file(path: Path) -> None:
    """Make ``path`` a readable journal at the current schema; a file SQLite cannot read is
    moved aside (with its WAL) and a new one started, with a warning naming both."""
    try:
        _check_and_migrate(path)
    except sqlite3.DatabaseError as exc:
        if not is_corrupt(exc):
            raise
        moved = _move_aside(path)
        message = (
            f"the journal {path} could not be read ({exc}); it was moved to {moved} and a new "
            f"journal was started. Jobs recorded in the old file are no longer listed (open it "
            f"with sqlite3 to see what it still holds). The journal lives in "
            f"{HOME_ENV} ({os.environ.get(HOME_ENV) or 'not set: the user data folder'})."
        )
        log.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)
        _check_and_migrate(path)


def _check_and_migrate(path: Path) -> None:
    conn = connect(path)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the whole schema
        migrate(conn)
    finally:
        conn.close()


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in SIDE_FILES:
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, f"{target}{suffix}")
    return target
