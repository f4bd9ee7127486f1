"""The journal: written before it is shown, read back after the server forgets."""

from __future__ import annotations

import gc
import io
import json
import sqlite3
import threading
import time

import pytest

import rp_jupyter
from rp_jupyter.api.models import JobStatus
from rp_jupyter.api.redact import MASK
from rp_jupyter.api.request import build_request
from rp_jupyter.jobs.journal import PREVIEW_CHARS, JobJournal
from rp_jupyter.jobs.journal_schema import SCHEMA_VERSION
from tests.client_support import start_local, wait_for


def endpoint(server, **options) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url, **options)


def test_the_request_is_journaled_before_it_is_sent(chaos):
    chaos.faults.latency = 0.5
    chaos.faults.ops = ["run"]
    journal = JobJournal.open()
    found: dict = {}
    thread = threading.Thread(target=lambda: found.update(job=endpoint(chaos).run({"q": 1})))
    thread.start()
    record = wait_for(lambda: (journal.list() or [None])[0], what="the submitting record")
    assert record.status == "SUBMITTING" and record.job_id is None and not record.final
    assert record.request == {"input": {"q": 1}}
    assert chaos.request_count("run") <= 1
    thread.join(10)
    record = journal.get(record.key)
    assert record.job_id == found["job"].id  # the id, as soon as it is known
    assert record.submitted_at is not None and record.status != "SUBMITTING"


def test_each_chunk_is_on_disk_before_the_caller_sees_it(chaos):
    job = endpoint(chaos).run({"chunks": 8, "interval": 0.05})
    journal = JobJournal.open()
    for count, _ in enumerate(job.stream(timeout=20), start=1):
        assert len(journal.find(job.id).chunks()) >= count
    record = journal.find(job.id)
    assert record.chunks() == job.chunks and record.chunk_count == 9


def test_the_final_document_is_journaled_with_timings_worker_and_history(chaos):
    job = endpoint(chaos).run({"sleep": 0.1, "chunks": 1})
    job.wait(20)
    record = JobJournal.open().find(job.id)
    assert record.final and record.status == "COMPLETED"
    assert (record.delay_ms, record.execution_ms, record.worker_id) == (
        job.delay_ms, job.execution_ms, job.worker_id)
    assert record.submitted_at <= record.started_at <= record.finished_at
    assert record.output() == [] and record.chunks() == job.chunks
    history = [status for _, status, _ in record.events()]
    assert history[0] == "SUBMITTING" and history[1] == "IN_QUEUE" and history[-1] == "COMPLETED"
    assert record.input_hash == build_request({"chunks": 1, "sleep": 0.1}).input_hash


def test_a_failed_job_keeps_its_error(chaos):
    job = endpoint(chaos).run({"error": "bad prompt"})
    with pytest.raises(rp_jupyter.JobFailedError):
        job.result(timeout=20)
    record = JobJournal.open().find(job.id)
    assert (record.status, record.error) == ("FAILED", "bad prompt")
    with pytest.raises(rp_jupyter.JobFailedError, match="bad prompt"):
        rp_jupyter.result(job.id)


def test_the_s3_secret_is_stored_masked(chaos):
    s3 = {"accessId": "id", "accessSecret": "very-secret-s3", "bucketName": "b",
          "endpointUrl": "https://s3.example.com"}
    job = endpoint(chaos).run({"sleep": 0}, s3_config=s3)
    job.wait(20)
    journal = JobJournal.open()
    assert journal.find(job.id).request["s3Config"]["accessSecret"] == MASK
    journal.flush()
    stored = b"".join(p.read_bytes() for p in journal.path.parent.glob("journal.sqlite3*"))
    assert b"very-secret-s3" not in stored
    job_id = job.id
    del job
    gc.collect()  # read back from the journal, the job cannot be sent again as it was
    with pytest.raises(rp_jupyter.InvalidRequestError, match=r"secrets .* never kept"):
        rp_jupyter.Endpoint(chaos.endpoint_id, base_url=chaos.base_url).job(job_id).rerun()


def test_the_server_forgetting_a_job_does_not_lose_its_result():
    server = start_local("chaos", workers=1, run_retention=0.3)
    try:
        ep = endpoint(server)
        job = ep.run({"chunks": 2})
        job_id, output = job.id, job.result(timeout=20)
        wait_for(lambda: server.job_record(job_id) is None, what="the server to forget")
        del job
        gc.collect()
        again = ep.job(job_id)
        assert again.source == "journal" and again.status is JobStatus.COMPLETED
        assert again.result() == output == rp_jupyter.result(job_id)
        assert again.chunks == output
        assert server.request_count("status", job_id) == 1  # only the follower's own
    finally:
        server.stop()


def test_a_job_the_server_forgot_before_its_result_was_fetched_is_expired(chaos):
    journal = JobJournal.open()
    request = build_request({"never": "sent"})
    key = journal.record_submitting(base_url=chaos.base_url, endpoint_id=chaos.endpoint_id,
                                    mode="run", request=request.redacted,
                                    input_hash=request.input_hash,
                                    request_hash=request.request_hash).result()
    journal.record_submitted(key, "lost-job-u1", "IN_QUEUE").result()
    journal.release(key).result()
    with pytest.raises(rp_jupyter.JobError) as caught:
        rp_jupyter.result("lost-job-u1", timeout=20)
    assert caught.value.status == "EXPIRED"
    assert journal.get(key).status == "EXPIRED" and journal.get(key).final


def test_jobs_lists_the_journal_newest_first_with_filters(chaos):
    ep = endpoint(chaos)
    first = ep.run({"n": 1})
    first.wait(20)
    middle = time.time()
    failed = ep.run({"error": "no"})
    failed.wait(20)
    last = ep.run({"n": 3})
    last.wait(20)
    listed = rp_jupyter.jobs()
    assert [r.job_id for r in listed] == [last.id, failed.id, first.id]
    assert [r.job_id for r in rp_jupyter.jobs(status="FAILED")] == [failed.id]
    assert [r.job_id for r in rp_jupyter.jobs(status=["completed"])] == [last.id, first.id]
    assert [r.job_id for r in rp_jupyter.jobs(since=middle)] == [last.id, failed.id]
    assert [r.job_id for r in rp_jupyter.jobs(until=middle)] == [first.id]
    assert len(rp_jupyter.jobs(last=3600, limit=2)) == 2
    assert rp_jupyter.jobs("another-endpoint") == []


def test_a_large_output_is_stored_apart_from_the_job_row(chaos):
    server = start_local("echo", workers=1)
    try:
        big = {"text": "x" * 200_000}
        job = endpoint(server).run_sync(big)
        record = JobJournal.open().find(job.id)
        assert record.output_bytes > 200_000
        assert len(record.output_preview) == PREVIEW_CHARS
        assert record.output() == {"echo": big}
    finally:
        server.stop()


def test_prune_keeps_the_newest_jobs_within_the_limits(chaos):
    ep = endpoint(chaos)
    jobs = [ep.run_sync({"n": i}) for i in range(6)]
    journal = JobJournal.open()
    assert journal.prune(max_jobs=4) == 2
    assert [r.job_id for r in journal.list()] == [j.id for j in reversed(jobs[2:])]
    assert journal.prune(max_bytes=1) == 4 and journal.count() == 0
    ep.run_sync({"n": 9})
    assert journal.prune(max_age=3600) == 0 and journal.prune(max_age=0) == 1


def test_export_writes_one_json_line_per_job_with_chunks_and_output(chaos):
    ep = endpoint(chaos)
    jobs = [ep.run_sync({"chunks": 1, "n": i}) for i in range(3)]
    buffer = io.StringIO()
    assert JobJournal.open().export_jsonl(buffer, endpoint_id=chaos.endpoint_id) == 3
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [line["job_id"] for line in lines] == [j.id for j in reversed(jobs)]
    assert lines[0]["chunks"][0] == {"chunk": 0} and lines[0]["status"] == "COMPLETED"


def test_the_schema_is_versioned_and_a_newer_one_is_refused(tmp_path):
    path = tmp_path / "j.sqlite3"
    journal = JobJournal(path)
    journal.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer rp_jupyter"):
        JobJournal(path)


def test_an_unfinished_job_older_than_its_ttl_is_expired_without_asking(chaos):
    journal = JobJournal.open()
    request = build_request({"old": True}, ttl=3600)
    key = journal.record_submitting(base_url=chaos.base_url, endpoint_id=chaos.endpoint_id,
                                    mode="run", request=request.redacted,
                                    input_hash=request.input_hash,
                                    request_hash=request.request_hash).result()
    two_hours_ago = time.time() - 2 * 3600  # past its 1 h ttl and the 30 min retention
    journal.record_submitted(key, "ancient-u1", "IN_QUEUE", two_hours_ago).result()
    journal.release(key).result()
    with pytest.raises(rp_jupyter.JobError) as caught:
        rp_jupyter.result("ancient-u1", timeout=10)
    assert caught.value.status == "EXPIRED"
    assert chaos.request_count(job_id="ancient-u1") == 0


def test_limits_from_the_environment_prune_the_oldest_final_jobs_when_the_engine_starts(
    monkeypatch,
):
    from rp_jupyter.jobs.runtime_registry import RuntimeRegistry

    journal = JobJournal.open()
    for index in range(5):
        key = journal.record_submitting(base_url="http://127.0.0.1:1/v2", endpoint_id="ep",
                                        mode="run", request={"input": {"i": index}},
                                        input_hash=str(index), request_hash=str(index)).result()
        journal.record_submitted(key, f"job-{index}", "IN_QUEUE").result()
        if index < 4:
            journal.record_final(key, "COMPLETED", {}, str(index)).result()
    monkeypatch.setenv("RP_JUPYTER_MAX_JOBS", "3")
    monkeypatch.setenv("RP_JUPYTER_MAX_AGE_DAYS", "not a number")  # ignored, with a warning
    RuntimeRegistry.get()
    deadline = time.monotonic() + 10
    while journal.count() > 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    kept = {r.job_id for r in journal.list(limit=None)}
    assert kept == {"job-2", "job-3", "job-4"}  # the unfinished one is never pruned


def test_run_sync_returns_once_the_job_id_and_final_document_are_on_disk(chaos):
    ep = endpoint(chaos)
    for i in range(20):
        job = ep.run_sync({"n": i})
        record = JobJournal.open().find(job.id)  # no flush: what is on disk already
        assert record is not None and record.job_id == job.id
        assert record.final and record.status == "COMPLETED" and record.submitted_at
        assert record.output_bytes is not None and record.updated_at >= record.submitted_at
