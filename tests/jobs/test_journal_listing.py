"""Listing a large journal: its indexes, its order and limits, and streams' kept previews."""

from __future__ import annotations

import sqlite3

import rp_jupyter
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.jobs.journal_schema import MIGRATIONS, SCHEMA_VERSION
from rp_jupyter.notebook.jobs_table import show_jobs_table
from tests.client_support import start_local

HOSTED = "https://api.runpod.ai/v2"


def _schema_4_journal(path, rows):
    """A journal file as rp_jupyter wrote it at schema 4, holding ``rows``
    ``(job_id, endpoint_id, status, final, created_at)`` (each with an output and a chunk)."""
    conn = sqlite3.connect(path)
    for version in range(1, 5):
        conn.executescript(MIGRATIONS[version])
    for key, (job_id, endpoint_id, status, final, created) in enumerate(rows, start=1):
        conn.execute(
            "INSERT INTO jobs (key, job_id, endpoint_id, base_url, mode, status, final, request,"
            " input_hash, request_hash, created_at, updated_at, chunk_count, output_preview) "
            "VALUES (?, ?, ?, ?, 'run', ?, ?, '{}', '', '', ?, ?, 1, ?)",
            (key, job_id, endpoint_id, HOSTED, status, final, created, created, f"out {key}"))
        conn.execute("INSERT INTO outputs VALUES (?, ?)", (key, f'{{"n": {key}}}'))
        conn.execute("INSERT INTO chunks VALUES (?, 1, 0, ?, ?)", (key, f'"c{key}"', created))
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()


def _plan(journal, read):
    """SQLite's plan for the last query ``read()`` runs on the journal."""
    captured = []
    original = journal._query

    def spy(sql, params=()):
        captured.append((sql, tuple(params)))
        return original(sql, params)

    journal._query = spy
    try:
        read()
    finally:
        del journal._query
    sql, params = captured[-1]
    return " ".join(row[3] for row in journal.read("EXPLAIN QUERY PLAN " + sql, params))


def test_a_journal_of_schema_4_migrates_keeping_its_rows_and_lists_them_as_before(tmp_path):
    path = tmp_path / "v4.sqlite3"
    rows = [("a-1", "alpha", "COMPLETED", 1, 100.0), ("b-1", "beta", "FAILED", 1, 200.0),
            ("a-2", "alpha", "IN_QUEUE", 0, 300.0), ("a-3", "alpha", "COMPLETED", 1, 300.0),
            ("b-2", "beta", "IN_PROGRESS", 0, 400.0)]
    _schema_4_journal(path, rows)
    journal = JobJournal(path)
    try:
        assert journal.read("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 5
        assert journal.count() == 5
        # newest first; equal creation times, the later record first
        assert [r.job_id for r in journal.list()] == ["b-2", "a-3", "a-2", "b-1", "a-1"]
        assert [r.job_id for r in journal.list(limit=2)] == ["b-2", "a-3"]
        assert [r.job_id for r in journal.list(endpoint_id="alpha")] == ["a-3", "a-2", "a-1"]
        assert [r.job_id for r in journal.list(endpoint_id="alpha", limit=1)] == ["a-3"]
        assert [r.job_id for r in journal.list(status="failed")] == ["b-1"]
        assert [r.job_id for r in journal.list(final=False)] == ["b-2", "a-2"]
        assert [r.job_id for r in journal.list(final=True, endpoint_id="beta")] == ["b-1"]
        record = journal.find("a-3")
        assert record.output() == {"n": 4} and record.chunks() == ["c4"]
        assert record.output_preview == "out 4"
    finally:
        journal.close()


def test_listings_read_the_indexes_not_the_whole_table(tmp_path):
    journal = JobJournal(tmp_path / "j.sqlite3")
    try:
        by_endpoint = _plan(journal, lambda: journal.list(endpoint_id="alpha", limit=50))
        newest = _plan(journal, lambda: journal.list(limit=50))
        unfinished = _plan(journal, lambda: journal.list(
            status=("IN_QUEUE", "IN_PROGRESS"), final=False, limit=None))
        assert "jobs_by_endpoint_created" in by_endpoint and "jobs_by_created" in newest
        assert "jobs_unfinished" in unfinished
        for plan in (by_endpoint, newest):
            assert "TEMP B-TREE" not in plan  # read in order: LIMIT stops the scan early
    finally:
        journal.close()


def test_a_streamed_job_keeps_its_preview_so_a_listing_reads_no_chunks(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    server = start_local("tokens", workers=1)
    try:
        ep = rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url)
        job = ep.run({"prompt": "kept without reading chunks", "rate": 0})
        assert job.result(timeout=20) == ["kept ", "without ", "reading ", "chunks "]
        journal = JobJournal.open()
        journal.flush()
        record = journal.find(job.id)
        assert record.chunk_count == 4 and record.output() in ([], None)  # only the stream
        assert record.output_preview == "kept without reading chunks "
        # the chunks gone from the file, the listing still shows the text
        journal.write(lambda conn: conn.execute("DELETE FROM chunks WHERE key = ?",
                                                (record.key,))).result()
        show_jobs_table(journal.list(), mode="terminal", endpoint_for=lambda r: ep)
        (line,) = [line for line in capsys.readouterr().out.splitlines() if job.id in line]
        assert line.endswith("kept without reading chunks ")
    finally:
        server.stop()


def test_a_stream_of_unrecognised_chunks_keeps_how_many_it_had(chaos):
    ep = rp_jupyter.Endpoint(chaos.endpoint_id, base_url=chaos.base_url)
    job = ep.run({"chunks": 4})
    job.wait(20)
    journal = JobJournal.open()
    journal.flush()
    record = journal.find(job.id)
    assert record.chunk_count == 5 and record.output() == []
    assert record.output_preview == "(5 chunks)"  # as the jobs table says of such a stream


def test_a_cache_lookup_reads_the_requests_index_and_finds_the_newest_completed(tmp_path):
    path = tmp_path / "reuse.sqlite3"
    JobJournal(path).close()
    conn = sqlite3.connect(path)
    rows = [("old", "COMPLETED", 10.0, "same"), ("newest-ok", "COMPLETED", 30.0, "same"),
            ("failed", "FAILED", 40.0, "same"), ("other", "COMPLETED", 50.0, "other")]
    rows += [(f"filler-{i}", "COMPLETED", 1.0 + i / 1000, f"h{i}") for i in range(500)]
    for job_id, status, finished, request_hash in rows:
        conn.execute(
            "INSERT INTO jobs (job_id, endpoint_id, base_url, mode, status, final, request, "
            "input_hash, request_hash, created_at, updated_at, finished_at) "
            "VALUES (?, 'ep', ?, 'run', ?, 1, '{}', '', ?, ?, ?, ?)",
            (job_id, HOSTED, status, request_hash, finished, finished, finished))
    conn.commit()
    conn.close()
    journal = JobJournal(path)
    try:
        assert journal.find_reusable(HOSTED, "ep", "same").job_id == "newest-ok"
        assert journal.find_reusable(HOSTED, "other-ep", "same") is None
        assert journal.find_reusable("http://127.0.0.1:9/v2", "ep", "same") is None
        plan = _plan(journal, lambda: journal.find_reusable(HOSTED, "ep", "same"))
        assert "jobs_for_reuse" in plan and "jobs_by_endpoint" not in plan
    finally:
        journal.close()
