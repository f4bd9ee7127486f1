"""Job handles: result, errors, streaming, cancel, retry, subscriptions."""

from __future__ import annotations

import asyncio
import threading

import pytest

import rp_jupyter
from rp_jupyter.api.errors import InvalidRequestError, WaitTimeoutError
from rp_jupyter.api.models import MISSING, JobStatus
from tests.client_support import wait_for


def endpoint(server, **options) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url, **options)


def chunks(n: int, attempt: int = 1) -> list[dict]:
    return [{"chunk": i} for i in range(n)] + [
        {"done": True, "slept": 0.0, "chunks": n, "attempt": attempt}]


def test_a_finished_job_carries_status_output_timings_and_worker(chaos):
    job = endpoint(chaos).run({"chunks": 2, "interval": 0.05})
    assert job.result(timeout=20) == chunks(2)
    server = chaos.job_record(job.id)
    assert job.status is JobStatus.COMPLETED and job.error is None
    assert job.output == []  # no aggregate stream: the chunks are the result
    assert (job.delay_ms, job.execution_ms, job.worker_id) == (
        server["delay_ms"], server["execution_ms"], server["worker_id"])
    assert job.run_seconds == server["execution_ms"] / 1000 and job.elapsed > 0.05


def test_result_raises_the_servers_message_when_the_handler_raises(chaos):
    job = endpoint(chaos).run({"chunks": 1, "fail": "the model ran out of memory"})
    with pytest.raises(rp_jupyter.JobFailedError) as caught:
        job.result(timeout=20)
    assert "the model ran out of memory" in str(caught.value)
    assert caught.value.job_id == job.id and caught.value.status == "FAILED"
    assert job.chunks == [{"chunk": 0}]  # what streamed before the failure is kept


def test_result_raises_when_the_handler_returns_an_error(chaos):
    job = endpoint(chaos).run({"error": "input too long"})
    with pytest.raises(rp_jupyter.JobFailedError, match="input too long"):
        job.result(timeout=20)
    assert job.status is JobStatus.FAILED and job.error == "input too long"


def test_result_with_a_timeout_leaves_the_job_running(chaos):
    job = endpoint(chaos).run({"sleep": 0.8})
    with pytest.raises(WaitTimeoutError, match="still"):
        job.result(timeout=0.1)
    assert not job.is_final
    assert job.result(timeout=20)[-1]["slept"] == 0.8


def test_a_job_can_be_awaited_from_any_event_loop(chaos):
    job = endpoint(chaos).run({"sleep": 0.1})

    async def wait() -> list:
        return await job

    assert asyncio.run(wait())[-1]["slept"] == 0.1
    with pytest.raises(WaitTimeoutError):
        asyncio.run(endpoint(chaos).run({"sleep": 1}).aresult(timeout=0.05))


def test_refresh_asks_the_server_now(chaos):
    job = endpoint(chaos).run({"sleep": 0.5})
    wait_for(lambda: chaos.job_record(job.id)["status"] == "IN_PROGRESS", what="the job to run")
    before = chaos.request_count("status", job.id)
    assert job.refresh().status is JobStatus.IN_PROGRESS and job.worker_id
    assert chaos.request_count("status", job.id) == before + 1
    job.wait(20)
    after = chaos.request_count(job_id=job.id)
    assert job.refresh().is_final and chaos.request_count(job_id=job.id) == after


def test_stream_called_late_starts_from_the_first_chunk(chaos):
    job = endpoint(chaos).run({"chunks": 5})
    job.wait(20)
    assert list(job.stream()) == chunks(5)
    assert list(job.stream()) == chunks(5)  # and again

    async def collect() -> list:
        return [c async for c in job.astream()]

    assert asyncio.run(collect()) == chunks(5)


def test_readers_on_several_threads_each_get_every_chunk_once_in_order(chaos):
    job = endpoint(chaos).run({"chunks": 30, "interval": 0.01})
    seen: dict[int, list] = {}

    def read(n: int) -> None:
        seen[n] = list(job.stream(timeout=20))

    threads = [threading.Thread(target=read, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [seen[n] for n in range(4)] == [chunks(30)] * 4


def test_a_job_cancelled_while_streaming_ends_its_stream(chaos):
    job = endpoint(chaos).run({"chunks": 200, "interval": 0.02})
    received = []
    for chunk in job.stream(timeout=20):
        received.append(chunk)
        if len(received) == 3:
            threading.Thread(target=job.cancel).start()
    assert job.status is JobStatus.CANCELLED
    assert 3 <= len(received) < 200
    assert received == [{"chunk": i} for i in range(len(received))]
    with pytest.raises(rp_jupyter.JobCancelledError):
        job.result()
    wait_for(lambda: chaos.job_record(job.id)["status"] == "CANCELLED", what="server cancel")


def test_cancel_removes_a_queued_job(chaos):
    ep = endpoint(chaos)
    blockers = [ep.run({"sleep": 0.6}) for _ in range(2)]
    queued = ep.run({"sleep": 0})
    assert queued.cancel().status is JobStatus.CANCELLED
    assert chaos.job_record(queued.id)["started_at"] is None
    assert all(b.result(timeout=20)[-1]["slept"] == 0.6 for b in blockers)
    assert queued.cancel().status is JobStatus.CANCELLED  # cancelling a final job: no-op


def test_retry_runs_a_failed_job_again_under_the_same_id(chaos):
    job = endpoint(chaos).run({"fail_first": True, "chunks": 2})
    with pytest.raises(rp_jupyter.JobFailedError, match="fail_first"):
        job.result(timeout=20)
    assert job.retry() is job and job.attempt == 2 and job.output is MISSING
    assert list(job.stream(timeout=20)) == chunks(2, attempt=2)
    assert job.result() == chunks(2, attempt=2)
    assert chaos.job_record(job.id)["attempts"] == 2


def test_retry_is_refused_for_a_job_that_did_not_fail(chaos):
    job = endpoint(chaos).run_sync({"sleep": 0})
    with pytest.raises(InvalidRequestError, match="only FAILED or TIMED_OUT") as caught:
        job.retry()
    assert "rerun" in caught.value.hint
    assert chaos.request_count("retry") == 0


def test_rerun_submits_the_same_input_as_a_new_job(chaos):
    job = endpoint(chaos).run({"sleep": 0, "chunks": 1}, ttl=300)
    again = job.rerun()
    assert again.id != job.id and again.input == job.input
    assert again.result(timeout=20) == chunks(1)
    assert chaos.job_record(again.id)["ttl"] == 300


def test_subscribers_hear_every_change_on_the_engine_thread(chaos):
    job = endpoint(chaos).run({"chunks": 3, "interval": 0.05})
    events: list[str] = []
    threads: set[str] = set()
    done = threading.Event()

    def listen(changed, event: str) -> None:
        assert changed is job
        events.append(event)
        threads.add(threading.current_thread().name)
        if event == "final":
            done.set()

    unsubscribe = job.subscribe(listen)
    assert done.wait(20)
    unsubscribe()
    assert "chunks" in events and events[-1] == "final"
    assert threads == {"rp_jupyter-engine"}
    count = len(events)
    job.rerun().wait(20)
    assert len(events) == count  # unsubscribed: no more calls


def test_a_failing_subscriber_does_not_stop_tracking(chaos):
    job = endpoint(chaos).run({"chunks": 2})
    job.subscribe(lambda j, e: 1 / 0)
    assert job.result(timeout=20) == chunks(2)


def test_a_blocking_call_from_a_subscriber_is_refused(chaos):
    job = endpoint(chaos).run({"chunks": 1, "interval": 0.1})
    problems: list[BaseException] = []

    def listen(changed, event: str) -> None:
        try:
            changed.refresh()
        except RuntimeError as exc:
            problems.append(exc)

    job.subscribe(listen)
    job.wait(20)
    assert problems and "engine thread" in str(problems[0])


def test_a_stream_of_an_attempt_ends_when_the_job_is_retried(chaos):
    job = endpoint(chaos).run({"chunks": 3, "interval": 0.05, "fail": "always"})
    old = job.stream(timeout=20)
    assert next(old) == {"chunk": 0}
    with pytest.raises(rp_jupyter.JobFailedError):
        job.result(timeout=20)
    job.retry()
    wait_for(lambda: job.chunk_count >= 2, what="the new attempt to stream")
    rest: list = []
    reader = threading.Thread(target=lambda: rest.extend(old))
    reader.start()
    reader.join(10)
    assert not reader.is_alive()  # the old attempt's stream ended
    assert rest == [{"chunk": 1}, {"chunk": 2}]
    assert list(job.stream(timeout=20)) == [{"chunk": i} for i in range(3)]


def test_a_streaming_job_nobody_watches_is_in_progress_in_the_journal(chaos):
    from rp_jupyter.jobs.journal import JobJournal

    job = endpoint(chaos).run({"chunks": 40, "interval": 0.1})
    try:
        wait_for(lambda: job.chunk_count > 0, timeout=20)
        assert not job.is_final and job.status is JobStatus.IN_PROGRESS
        wait_for(lambda: JobJournal.open().find(job.id).status == "IN_PROGRESS", timeout=5)
        record = JobJournal.open().find(job.id)
        assert record.started_at is not None and record.started_at >= record.submitted_at
    finally:
        job.cancel()


def test_the_run_clock_starts_when_the_job_left_the_queue():
    import time

    from rp_jupyter.api.models import StatusDocument
    from rp_jupyter.jobs.job import Job
    from rp_jupyter.notebook.markup import timings_text

    job = Job(None, job_id="clock-1", endpoint_id="e", base_url="http://127.0.0.1:9/v2",
              mode="run", input={}, submitted_at=time.time() - 5)
    # seen running 5 s after it was sent; the server says it waited 1 s in the queue
    job._apply_status(JobStatus.IN_PROGRESS,
                      StatusDocument(id="clock-1", status=JobStatus.IN_PROGRESS, delay_ms=1000))
    assert abs(job.started_at - (job.submitted_at + 1.0)) < 1e-6
    assert "running 4 s" in timings_text(job)
