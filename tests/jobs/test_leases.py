"""Leases: a process that lost a job (another one claimed it after its lease lapsed) stops
following it and only watches; the journal refuses its writes about that job; renewing
survives a journal in trouble."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3

import pytest

from rp_jupyter.jobs import journal_store
from rp_jupyter.jobs.job import Job
from rp_jupyter.jobs.journal import JobJournal, LeaseLost
from rp_jupyter.jobs.leases import LeaseKeeper
from tests.client_support import spawn_python, start_local, wait_for

BASE = "http://127.0.0.1:9/v2"


def submitted(journal: JobJournal, job_id: str) -> int:
    key = journal.record_submitting(base_url=BASE, endpoint_id="e", mode="run",
                                    request={"input": {}}, input_hash="h",
                                    request_hash="r").result()
    journal.record_submitted(key, job_id, "IN_PROGRESS").result()
    return key


def test_writes_by_a_process_that_lost_the_job_are_refused_by_the_journal(tmp_path):
    path = tmp_path / "journal.sqlite3"
    first, second = JobJournal(path), JobJournal(path)  # two owners, as two processes are
    try:
        key = submitted(first, "job-1")
        first.append_chunks(key, 1, 0, ["a", "b"]).result()
        first.release(key).result()  # its lease lapses
        assert second.claim_orphans(job_id="job-1").result() == [key]
        for write in (lambda: first.append_chunks(key, 1, 2, ["late"]),
                      lambda: first.record_status(key, "IN_PROGRESS", {}),
                      lambda: first.record_progress(key, {"step": 9}),
                      lambda: first.record_final(key, "COMPLETED", {}, '"mine"')):
            with pytest.raises(LeaseLost):
                write().result()
        assert first.renew_leases([key]).result() == [key]  # it learns it lost the job
        second.append_chunks(key, 1, 2, ["c"]).result()
        second.record_final(key, "COMPLETED", {}, '"theirs"').result()
        record = second.get(key)
        assert record.chunks() == ["a", "b", "c"] and record.output() == "theirs"
        assert [s for _, s, _ in record.events()].count("COMPLETED") == 1
    finally:
        first.close()
        second.close()


def test_renewing_leases_survives_a_journal_that_cannot_be_written(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_store, "BUSY_TIMEOUT_MS", 100)
    journal = JobJournal(tmp_path / "journal.sqlite3")
    key = submitted(journal, "job-1")
    job = Job(None, job_id="job-1", endpoint_id="e", base_url=BASE, mode="run", input={},
              journal_key=key)
    lost: list[Job] = []
    keeper = LeaseKeeper(journal, followed=lambda: {key: job}, lost=lost.append)
    holder = sqlite3.connect(journal.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        asyncio.run(keeper.renew())  # locked past the busy timeout: logged, not raised
        assert keeper.failures == 1
    finally:
        holder.execute("COMMIT")
        holder.close()
    before = journal.get(key).updated_at
    asyncio.run(keeper.renew())
    assert keeper.failures == 0 and lost == []
    with sqlite3.connect(journal.path) as conn:
        lease = conn.execute("SELECT lease_until FROM jobs WHERE key = ?", (key,)).fetchone()[0]
    assert lease > before
    journal.close()


PAUSED_OWNER = """
    import json, signal, sys
    from rp_jupyter.jobs import tracking_policy, journal, journal_ownership
    for module in (journal, journal_ownership):
        module.LEASE_SECONDS = 1.5
    tracking_policy.LEASE_RENEW_EVERY = 0.3
    import rp_jupyter

    ep = rp_jupyter.Endpoint("local", base_url=sys.argv[1])
    job = ep.run({"chunks": 80, "interval": 0.1})
    sent = ep.runtime.client.connection.sent
    resumed = []
    signal.signal(signal.SIGCONT, lambda *_: resumed.append(sent["stream"]))
    print(json.dumps(job.id), flush=True)
    job.wait(120)
    print(json.dumps({"status": str(job.status), "chunks": job.chunks,
                      "complete": job.stream_complete, "streams_at_resume": resumed,
                      "streams_at_end": sent["stream"]}), flush=True)
    """


def test_a_paused_owner_that_lost_its_job_stops_following_it(rp_home):
    server = start_local("chaos", workers=1)
    owner = None
    try:
        owner = spawn_python(PAUSED_OWNER, {"RP_JUPYTER_HOME": str(rp_home)}, server.base_url)
        job_id = json.loads(owner.stdout.readline())
        records = JobJournal.open()
        wait_for(lambda: records.find(job_id).chunk_count >= 5, timeout=30,
                 what="the owner to journal some chunks")
        owner.send_signal(signal.SIGSTOP)  # past its lease: this process takes the job over
        import rp_jupyter

        ep = rp_jupyter.Endpoint("local", base_url=server.base_url)
        job = ep.job(job_id)
        wait_for(lambda: job.chunk_count > records.find(job_id).chunk_count - 1
                 and ep.runtime.followed(), timeout=30, what="this process to follow the job")
        taken_over_at = records.find(job_id).chunk_count
        wait_for(lambda: records.find(job_id).chunk_count >= taken_over_at + 5, timeout=30,
                 what="this process to journal chunks")
        owner.send_signal(signal.SIGCONT)
        assert job.wait(60) and str(job.status) == "COMPLETED"
        out, err = owner.communicate(timeout=60)
        assert owner.returncode == 0, err
        reported = json.loads(out.strip().splitlines()[-1])
    finally:
        if owner is not None and owner.poll() is None:
            owner.send_signal(signal.SIGCONT)
            owner.kill()
            owner.communicate(timeout=10)
        server.stop()

    record = records.find(job_id)
    stored = record.chunks()
    numbers = [c["chunk"] for c in stored if "chunk" in c]
    assert numbers == sorted(set(numbers))  # in order, each once: never a mix of two writers
    assert stored[-1]["done"] is True
    full = [{"chunk": i} for i in range(80)] + [stored[-1]]
    # whatever went missing is said to be
    assert record.stream_gap is (stored != full), (
        sorted(set(range(80)) - set(numbers)), record.events())
    assert [s for _, s, _ in record.events()].count("COMPLETED") == 1
    assert job.chunks == stored and job.stream_complete is not record.stream_gap
    # the paused process watched the rest (no more /stream) and read the end from the journal
    assert reported["status"] == "COMPLETED" and reported["chunks"] == stored
    assert reported["complete"] is not record.stream_gap
    assert reported["streams_at_end"] - reported["streams_at_resume"][0] <= 2
