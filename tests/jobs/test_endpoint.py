"""Every Endpoint method, sync and async, against the local endpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import httpx
import pytest

import rp_jupyter
from rp_jupyter.api.errors import InvalidRequestError
from rp_jupyter.api.models import Health, JobStatus
from tests.client_support import CHAOS_PLAIN, FAST_POLICY, start_local, wait_for


def endpoint(server, **options) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url, **options)


def test_run_sends_input_and_options_and_returns_a_followed_job(chaos):
    job = endpoint(chaos).run({"sleep": 0.1}, execution_timeout=60, ttl=600,
                              low_priority=True, webhook="http://127.0.0.1:9/hook")
    assert job.id and job.endpoint_id == chaos.endpoint_id and job.mode == "run"
    assert job.result(timeout=20)[-1] == {"done": True, "slept": 0.1, "chunks": 0,
                                          "attempt": 1}
    record = chaos.job_record(job.id)
    assert record["input"] == {"sleep": 0.1}
    assert (record["execution_timeout"], record["ttl"], record["low_priority"]) == (60, 600, True)
    assert record["webhook"] == "http://127.0.0.1:9/hook"


def test_run_sync_returns_a_final_job_with_timings(chaos):
    started = time.time()
    job = endpoint(chaos).run_sync({"sleep": 0.2})
    assert job.status is JobStatus.COMPLETED and job.is_final
    assert job.id.startswith("sync-") and job.mode == "runsync"
    assert job.result()[-1]["slept"] == 0.2
    assert job.execution_ms >= 200 and job.delay_ms is not None and job.worker_id
    assert 0.2 <= job.elapsed <= time.time() - started + 0.01
    assert chaos.request_count("runsync") == 1


def test_run_sync_that_outlasts_its_wait_is_followed_to_the_end(chaos):
    job = endpoint(chaos).run_sync({"sleep": 1.3}, wait=1)
    assert job.status in (JobStatus.IN_QUEUE, JobStatus.IN_PROGRESS)
    assert job.elapsed >= 1.0  # the wait counts: elapsed runs from sending
    assert job.result(timeout=20)[-1]["slept"] == 1.3
    assert job.elapsed >= 1.3


def test_run_sync_of_a_plain_handler_returns_its_output():
    server = start_local(CHAOS_PLAIN, workers=1)
    try:
        job = endpoint(server).run_sync({"sleep": 0})
        assert job.output == {"done": True, "slept": 0.0, "attempt": 1}
        assert job.result() == job.output and job.chunks == []
    finally:
        server.stop()


def test_job_attaches_to_a_job_submitted_elsewhere(chaos):
    response = httpx.post(f"{chaos.url}/run", json={"input": {"chunks": 2, "interval": 0.1}})
    job_id = response.json()["id"]
    job = endpoint(chaos).job(job_id)
    assert job.id == job_id and job.input is None
    assert list(job.stream(timeout=20)) == [{"chunk": 0}, {"chunk": 1},
                                            {"done": True, "slept": 0.0, "chunks": 2,
                                             "attempt": 1}]
    assert job.status is JobStatus.COMPLETED


def test_job_returns_the_same_handle_while_the_job_is_live(chaos):
    ep = endpoint(chaos)
    job = ep.run({"sleep": 0.3})
    assert ep.job(job.id) is job


def test_health_reads_the_counters(chaos):
    health = endpoint(chaos).health()
    assert isinstance(health, Health)
    assert health.idle + health.running == 2
    assert "workers.unhealthy" in health.reported


def test_purge_queue_removes_queued_jobs_which_end_cancelled():
    server = start_local("chaos", workers=1)
    try:
        ep = endpoint(server)
        running = ep.run({"sleep": 1.0})
        wait_for(lambda: server.job_record(running.id)["status"] == "IN_PROGRESS",
                 what="the first job to start")
        queued = [ep.run({"sleep": 0}) for _ in range(3)]
        assert ep.purge_queue() == 3
        for job in queued:
            with pytest.raises(rp_jupyter.JobCancelledError):
                job.result(timeout=20)
        assert running.result(timeout=20)[-1]["slept"] == 1.0
    finally:
        server.stop()


def test_the_async_twins_do_what_the_sync_methods_do(chaos):
    ep = endpoint(chaos)

    async def scenario() -> dict:
        job = await ep.arun({"chunks": 2}, ttl=600)
        chunks = [chunk async for chunk in job.astream()]
        output = await job
        sync_job = await ep.arun_sync({"sleep": 0}, wait=5)
        again = await ep.ajob(job.id)
        health = await ep.ahealth()
        removed = await ep.apurge_queue()
        return {"chunks": chunks, "output": output, "sync": sync_job.status,
                "again": again is job, "idle": health.idle + health.running, "removed": removed}

    found = asyncio.run(scenario())
    assert found["chunks"] == found["output"] == [{"chunk": 0}, {"chunk": 1},
                                                  {"done": True, "slept": 0.0, "chunks": 2,
                                                   "attempt": 1}]
    assert found["sync"] is JobStatus.COMPLETED and found["again"] is True
    assert found["idle"] == 2 and found["removed"] == 0


def test_async_calls_refuse_unknown_options(chaos):
    with pytest.raises(TypeError, match="timeout"):
        asyncio.run(endpoint(chaos).arun({}, timeout=3))


def test_bad_arguments_are_refused_before_any_request(chaos):
    ep = endpoint(chaos)
    with pytest.raises(InvalidRequestError, match="cache must be one of"):
        ep.run({}, cache="sometimes")
    with pytest.raises(InvalidRequestError, match="wait must be between 1 and 300"):
        ep.run_sync({}, wait=0.5)
    with pytest.raises(InvalidRequestError, match="execution_timeout"):
        ep.run({}, execution_timeout=1)
    with pytest.raises(InvalidRequestError, match="endpoint id"):
        rp_jupyter.Endpoint("a/b")
    assert chaos.request_count() == 0


def test_execution_timeout_ends_the_job_failed_with_the_servers_message():
    server = start_local("chaos", workers=1, **FAST_POLICY)
    try:
        response = httpx.post(f"{server.url}/run", json={
            "input": {"sleep": 5}, "policy": {"executionTimeout": 300}})
        job = endpoint(server).job(response.json()["id"])
        with pytest.raises(rp_jupyter.JobFailedError, match="executionTimeout exceeded"):
            job.result(timeout=20)
    finally:
        server.stop()


def test_a_ttl_that_runs_out_in_the_queue_raises_timed_out():
    server = start_local("echo", workers=0, **FAST_POLICY)
    try:
        response = httpx.post(f"{server.url}/run", json={"input": {}, "policy": {"ttl": 200}})
        job = endpoint(server).job(response.json()["id"])
        with pytest.raises(rp_jupyter.JobTimedOutError) as caught:
            job.result(timeout=20)
        assert caught.value.status == "TIMED_OUT" and "retry" in caught.value.hint
    finally:
        server.stop()


def test_ctrl_c_during_run_cancels_the_job_it_started(chaos):
    chaos.faults.latency = 0.5  # the /run request is in flight for half a second
    chaos.faults.ops = {"run"}
    endpoint = rp_jupyter.Endpoint(chaos.endpoint_id, base_url=chaos.base_url)

    def interrupt_once_sent():
        deadline = time.monotonic() + 10
        while chaos.request_count("run") == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt_once_sent)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        endpoint.run({"sleep": 30})
    thread.join()
    (record,) = rp_jupyter.jobs(chaos.endpoint_id)
    assert record.job_id is not None
    assert chaos.job_record(record.job_id)["status"] == "CANCELLED"


def test_a_job_attached_after_it_finished_still_yields_its_unread_chunks(chaos):
    response = httpx.post(f"{chaos.url}/run", json={"input": {"chunks": 2, "interval": 0}})
    job_id = response.json()["id"]
    wait_for(lambda: (chaos.job_record(job_id) or {}).get("status") == "COMPLETED")
    job = endpoint(chaos).job(job_id)
    assert list(job.stream(timeout=20)) == [{"chunk": 0}, {"chunk": 1},
                                            {"done": True, "slept": 0.0, "chunks": 2,
                                             "attempt": 1}]
    assert job.status is JobStatus.COMPLETED and chaos.job_record(job_id) is not None


def test_a_plain_job_attached_after_it_finished_gives_its_output():
    server = start_local(CHAOS_PLAIN, workers=1)
    try:
        job_id = httpx.post(f"{server.url}/run", json={"input": {"sleep": 0}}).json()["id"]
        wait_for(lambda: (server.job_record(job_id) or {}).get("status") == "COMPLETED")
        job = endpoint(server).job(job_id)
        assert job.result(timeout=20) == {"done": True, "slept": 0.0, "attempt": 1}
        assert job.chunks == []
    finally:
        server.stop()
