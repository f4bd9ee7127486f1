"""A journal in trouble never keeps a finished job from ending: a full disk or a lock held
past the busy timeout leaves the job final in memory (written later, when the journal
recovers); a damaged file is moved aside and a new one started; ``close()`` closes."""

from __future__ import annotations

import os
import sqlite3

import pytest

import rp_jupyter
from rp_jupyter.jobs import journal_store
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.local.fault_proxy import FaultProxy
from tests.client_support import start_local, wait_for

ALL = [{"chunk": i} for i in range(4)] + [
    {"done": True, "slept": 0.0, "chunks": 4, "attempt": 1}]


def endpoint(server, **options) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url, **options)


def test_a_job_ends_while_another_program_holds_the_journal_past_its_busy_timeout(
        chaos, monkeypatch):
    monkeypatch.setattr(journal_store, "BUSY_TIMEOUT_MS", 200)
    job = endpoint(chaos).run({"chunks": 4, "interval": 0.3})
    wait_for(lambda: job.chunk_count >= 1, what="the first chunk")
    journal = JobJournal.open()
    holder = sqlite3.connect(journal.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program keeps the journal locked
    try:
        assert job.result(timeout=30) == ALL  # the server finished: so does the job
        assert job.chunks == ALL
        record = journal.find(job.id)
        assert not record.final  # nothing could be written meanwhile
    finally:
        holder.execute("COMMIT")
        holder.close()
    # the journal recovers: what waited is written, in order
    wait_for(lambda: journal.find(job.id).final, timeout=30, what="the final write")
    record = journal.find(job.id)
    assert record.status == "COMPLETED" and record.chunks() == ALL


def test_a_job_ends_while_the_journal_disk_is_full_and_is_written_once_there_is_room():
    server = start_local("tests.jobs.handlers:late_text", workers=1)
    try:
        job = endpoint(server).run({"sleep": 1.0, "size": 200_000})
        journal = JobJournal.open()
        # SQLite's own cap makes every write that needs more room fail as a full disk does
        journal.write(lambda conn: conn.execute("PRAGMA max_page_count = 1")).result()
        assert job.result(timeout=30) == {"text": "x" * 200_000}
        assert not journal.find(job.id).final
        with pytest.raises(rp_jupyter.RunpodError, match="nothing was sent") as caught:
            endpoint(server).run({"sleep": 0, "size": 1, "pad": "y" * 100_000})
        assert "could not record the request" in str(caught.value)
        assert server.request_count("run") == 1  # the refused one never left
        journal.write(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823")).result()
        wait_for(lambda: journal.find(job.id).final, timeout=30, what="the final write")
        assert journal.find(job.id).output() == {"text": "x" * 200_000}
    finally:
        server.stop()


def test_an_unexpected_failure_while_following_is_logged_shown_and_tried_again(chaos, caplog):
    with FaultProxy(chaos.server.root_url) as proxy:
        proxy.script("status", ["junk_after"])  # a gateway answers with no status document
        job = rp_jupyter.Endpoint(chaos.endpoint_id, base_url=proxy.base_url).run(
            {"chunks": 2, "interval": 0.1})
        problem = wait_for(lambda: job.tracking_error, what="the failure shown on the job")
        assert isinstance(problem, AttributeError)
        assert job.result(timeout=30)[:2] == [{"chunk": 0}, {"chunk": 1}]
        assert job.tracking_error is None
        assert [p.kind for p in proxy.log if p.op == "status"][:2] == ["junk_after", "ok"]
    logged = [r for r in caplog.records if r.name == "rp_jupyter.jobs" and job.id in r.message]
    assert any("AttributeError" in r.message and "trying again" in r.message for r in logged)


def test_a_journal_of_garbage_bytes_is_moved_aside_and_a_new_one_started(chaos, rp_home):
    rp_home.mkdir(parents=True, exist_ok=True)
    garbage = os.urandom(4096)
    (rp_home / "journal.sqlite3").write_bytes(garbage)
    with pytest.warns(RuntimeWarning) as caught:
        assert rp_jupyter.jobs() == []
    message = str(caught[0].message)
    assert str(rp_home / "journal.sqlite3") in message and "RP_JUPYTER_HOME" in message
    moved = [p for p in rp_home.iterdir() if p.name.startswith("journal.sqlite3.corrupt-")]
    assert [p.read_bytes() for p in moved] == [garbage]  # kept, not deleted
    job = endpoint(chaos).run({"chunks": 1})
    job.result(timeout=20)
    assert [r.job_id for r in rp_jupyter.jobs()] == [job.id]


def test_a_truncated_journal_is_moved_aside_and_a_new_one_started(chaos, rp_home):
    ep = endpoint(chaos)
    ids = [ep.run_sync({"chunks": 2, "n": i}).id for i in range(40)]
    from rp_jupyter.jobs.engine import Engine

    Engine.get().shutdown()
    journal = JobJournal.open()
    journal.close()
    with sqlite3.connect(journal.path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = journal.path.stat().st_size
    with open(journal.path, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.warns(RuntimeWarning, match="could not be read"):
        again = JobJournal.open()
    assert again is not journal and again.count() == 0
    assert not any(again.find(job_id) for job_id in ids)
    moved = [p.name for p in rp_home.glob("journal.sqlite3.corrupt-*")]
    assert len([name for name in moved if not name.endswith(("-wal", "-shm"))]) == 1
    assert endpoint(chaos).run_sync({"chunks": 1}).result() == [
        {"chunk": 0}, {"done": True, "slept": 0.0, "chunks": 1, "attempt": 1}]


def test_close_closes_and_a_later_open_gives_a_working_journal(tmp_path):
    journal = JobJournal.open(tmp_path / "j.sqlite3")
    journal.record_submitting(base_url="http://127.0.0.1:1/v2", endpoint_id="e", mode="run",
                              request={"input": {}}, input_hash="h",
                              request_hash="r").result()
    assert journal.count() == 1
    journal.close()
    with pytest.raises(journal_store.JournalClosedError):
        journal.flush()
    with pytest.raises(journal_store.JournalClosedError):
        journal.count()
    again = JobJournal.open(tmp_path / "j.sqlite3")
    assert again is not journal and again.count() == 1
    again.flush()
