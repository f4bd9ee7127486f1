"""The journal's SQLite schema and its migrations.

``MIGRATIONS[n]`` takes a journal from schema version ``n - 1`` to ``n``; ``PRAGMA user_version``
records where a file is.  Add a new entry for every change; never edit an old one.
"""

from __future__ import annotations

import sqlite3

from rp_jupyter.env_names import HOME_ENV

SCHEMA_VERSION = 5

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE jobs (
        key            INTEGER PRIMARY KEY,  -- the journal's own id for a submission
        job_id         TEXT,                 -- the server's id; NULL while submitting
        endpoint_id    TEXT NOT NULL,
        base_url       TEXT NOT NULL,
        mode           TEXT NOT NULL,        -- run | runsync
        status         TEXT NOT NULL,
        final          INTEGER NOT NULL DEFAULT 0,
        request        TEXT NOT NULL,        -- the body sent, s3Config.accessSecret masked
        input_hash     TEXT NOT NULL,
        request_hash   TEXT NOT NULL,
        created_at     REAL NOT NULL,
        submitted_at   REAL,
        started_at     REAL,
        finished_at    REAL,
        updated_at     REAL NOT NULL,
        delay_ms       INTEGER,
        execution_ms   INTEGER,
        worker_id      TEXT,
        error          TEXT,                 -- JSON of the server's error value
        attempt        INTEGER NOT NULL DEFAULT 1,
        chunk_count    INTEGER NOT NULL DEFAULT 0,
        output_bytes   INTEGER,              -- NULL: no output stored
        output_preview TEXT,
        note           TEXT,
        owner          TEXT,                 -- the process following it
        owner_pid      INTEGER,
        owner_host     TEXT,
        lease_until    REAL
    );
    CREATE UNIQUE INDEX jobs_by_server_id ON jobs(base_url, endpoint_id, job_id)
        WHERE job_id IS NOT NULL;
    CREATE INDEX jobs_by_job_id ON jobs(job_id);
    CREATE INDEX jobs_for_reuse ON jobs(request_hash, endpoint_id, base_url, status);
    CREATE INDEX jobs_by_created ON jobs(created_at);
    CREATE INDEX jobs_unfinished ON jobs(final) WHERE final = 0;

    CREATE TABLE outputs (
        key    INTEGER PRIMARY KEY REFERENCES jobs(key) ON DELETE CASCADE,
        output TEXT NOT NULL                 -- JSON, exactly as the server sent it
    );

    CREATE TABLE chunks (
        key     INTEGER NOT NULL REFERENCES jobs(key) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        seq     INTEGER NOT NULL,
        data    TEXT NOT NULL,               -- JSON of one chunk's output
        at      REAL NOT NULL,
        PRIMARY KEY (key, attempt, seq)
    ) WITHOUT ROWID;

    CREATE TABLE events (                    -- status history
        key    INTEGER NOT NULL REFERENCES jobs(key) ON DELETE CASCADE,
        at     REAL NOT NULL,
        status TEXT NOT NULL,
        detail TEXT
    );
    CREATE INDEX events_by_key ON events(key);
    """,
    2: """
    -- 1 while the stream of the current attempt may be missing chunks (a /stream answer
    -- was lost after the server handed its chunks out); 0 once whole or reconciled
    ALTER TABLE jobs ADD COLUMN stream_gap INTEGER NOT NULL DEFAULT 0;
    """,
    3: """
    ALTER TABLE jobs ADD COLUMN cost REAL;          -- dollars, once final; NULL: unknown
    ALTER TABLE jobs ADD COLUMN cost_source TEXT;   -- output.cost | price | gpu | local | unknown
    ALTER TABLE jobs ADD COLUMN price REAL;         -- the dollars per second it was costed at
    ALTER TABLE jobs ADD COLUMN origin TEXT;        -- the notebook (or script) that sent it
    CREATE INDEX jobs_by_endpoint_finished ON jobs(endpoint_id, finished_at);  -- estimates

    CREATE TABLE prices (                           -- set with %runpod price / rp_jupyter.price
        endpoint_id TEXT PRIMARY KEY,
        per_second  REAL NOT NULL,                  -- dollars per second of execution
        gpu         TEXT,                           -- the GPU it was looked up from, if any
        tier        TEXT,                           -- flex | active (with gpu)
        set_at      REAL NOT NULL
    );
    """,
    4: """
    CREATE TABLE output_files (                     -- files behind an output's links, saved
        key         INTEGER NOT NULL REFERENCES jobs(key) ON DELETE CASCADE,
        attempt     INTEGER NOT NULL,
        json_path   TEXT NOT NULL,                  -- where the link sits: $.images[0].data
        url         TEXT NOT NULL,                  -- signatures masked
        url_hash    TEXT NOT NULL,                  -- sha256 of the whole URL, to find it again
        content_type TEXT,
        size        INTEGER,
        sha256      TEXT,
        file        TEXT,                           -- relative to the journal's folder
        fetched_at  REAL NOT NULL,
        error       TEXT,                           -- why it was not saved
        PRIMARY KEY (key, attempt, json_path)
    );
    CREATE INDEX output_files_by_url ON output_files(url_hash);
    """,
    5: """
    -- %runpod jobs --endpoint ID: the newest rows of one endpoint, read in order
    CREATE INDEX jobs_by_endpoint_created ON jobs(endpoint_id, created_at);
    """,
}


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the file at ``conn`` up to :data:`SCHEMA_VERSION` (one transaction per step)."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"the journal was written by a newer rp_jupyter (schema {current}, this one knows "
            f"{SCHEMA_VERSION}); upgrade rp_jupyter or set {HOME_ENV} to another folder"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # another process may have migrated while we waited for the lock
            if conn.execute("PRAGMA user_version").fetchone()[0] >= version:
                conn.execute("COMMIT")
                continue
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a script into complete statements (semicolons inside comments are fine)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    if pending.strip():
        statements.append(pending)
    return statements
