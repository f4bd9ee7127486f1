"""The engine: one background loop, safe from any thread, following every job to its end."""

from __future__ import annotations

import asyncio
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import rp_jupyter
from rp_jupyter.api.models import JobStatus
from rp_jupyter.jobs.engine import Engine
from rp_jupyter.jobs.journal import JobJournal
from tests.client_support import CHAOS_PLAIN, run_python, start_local, wait_for


def endpoint(server, **options) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url, **options)


def test_the_engine_starts_on_first_use_as_one_daemon_thread(chaos):
    assert Engine.peek() is None
    ep = endpoint(chaos)
    assert Engine.peek() is None  # making an Endpoint costs nothing
    ep.health()
    engine = Engine.peek()
    assert engine is not None and engine is Engine.get()
    names = [t.name for t in threading.enumerate() if t.name == "rp_jupyter-engine"]
    assert names == ["rp_jupyter-engine"] and engine._thread.daemon


def test_calls_from_many_threads_at_once_all_get_their_own_answers(chaos):
    ep = endpoint(chaos)

    def work(n: int) -> tuple:
        job = ep.run({"chunks": 2, "sleep": 0.01 * (n % 3)})
        streamed = list(job.stream(timeout=30))
        synced = ep.run_sync({"chunks": 1})
        return n, streamed, synced.result(), ep.job(job.id) is job, ep.health().idle >= 0

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(work, range(24)))
    for n, streamed, synced, same, healthy in results:
        assert [c for c in streamed if "chunk" in c] == [{"chunk": 0}, {"chunk": 1}]
        assert streamed[-1]["slept"] == 0.01 * (n % 3)
        assert synced[0] == {"chunk": 0} and same and healthy
    assert chaos.request_count("run") == 24 and chaos.request_count("runsync") == 24


def test_every_job_is_followed_to_its_end_though_nobody_waits(chaos):
    ep = endpoint(chaos)
    ids = [ep.run({"chunks": 2, "sleep": 0.05}).id for _ in range(10)]
    journal = JobJournal.open()

    def all_final() -> bool:
        records = [journal.find(i) for i in ids]
        return all(r is not None and r.status == "COMPLETED" for r in records)

    wait_for(all_final, what="every job to be journaled COMPLETED")
    record = journal.find(ids[0])
    assert record.chunks()[:2] == [{"chunk": 0}, {"chunk": 1}] and record.output() == []


def test_hundreds_of_jobs_are_tracked_at_once():
    server = start_local("echo", workers=2, rate_limits="off")
    try:
        ep = endpoint(server)

        async def fan_out() -> list:
            jobs = await asyncio.gather(*(ep.arun({"i": i}) for i in range(300)))
            return await asyncio.gather(*(job.aresult(timeout=120) for job in jobs))

        assert asyncio.run(fan_out()) == [{"echo": {"i": i}} for i in range(300)]
        assert server.request_count("run") == 300
        assert server.request_count() <= 3 * 300  # /run, one long-poll, one /status each
        final = JobJournal.open().list(endpoint_id=server.endpoint_id, status="COMPLETED",
                                       limit=None)
        assert len(final) == 300
    finally:
        server.stop()


def test_a_plain_job_costs_three_requests_with_long_polls(chaos):
    server = start_local(CHAOS_PLAIN, workers=1)
    try:
        ep = endpoint(server)
        for seconds in (0.05, 0.6):
            job = ep.run({"sleep": seconds})
            job.result(timeout=20)
            wait_for(lambda j=job: server.request_count(job_id=j.id) == 3, timeout=5,
                     what="the follower's last request to be counted")
            ops = [e["op"] for e in server.request_log if e["job_id"] == job.id]
            assert ops == ["run", "stream", "status"]
        assert ep.runtime.long_poll is not False
    finally:
        server.stop()


def test_a_busy_stream_costs_at_most_ten_requests_a_second(chaos):
    ep = endpoint(chaos)
    job = ep.run({"chunks": 60, "interval": 0.02})
    chunks = list(job.stream(timeout=30))
    assert len(chunks) == 61
    entries = [e for e in chaos.request_log if e["job_id"] == job.id and e["op"] == "stream"]
    # the chunks came in batches, not one request each
    assert len(entries) < len(chunks) / 2
    # consecutive /stream calls while chunks flowed are at least a pause (0.1 s) apart
    times = sorted(e["t"] for e in entries)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps and min(gaps) >= 0.09


def test_without_long_polls_the_engine_polls_fast_then_backs_off():
    server = start_local("chaos", workers=1, long_poll_max=0)
    try:
        ep = endpoint(server)
        quiet = ep.run({"sleep": 2.0})
        assert quiet.result(timeout=20)[-1]["slept"] == 2.0
        assert ep.runtime.long_poll is False  # learnt once, then remembered
        quiet_polls = server.request_count("stream", quiet.id)
        assert 4 <= quiet_polls <= 16  # 50 ms at first, backing off to 2 s
        busy = ep.run({"chunks": 20, "interval": 0.1})
        assert len(list(busy.stream(timeout=20))) == 21
        # activity resets the interval: about one poll per chunk, not one per 2 s
        assert server.request_count("stream", busy.id) >= 10
    finally:
        server.stop()


def test_tracking_survives_the_server_dropping_every_connection_for_a_while(chaos):
    job = endpoint(chaos, max_retries=1).run({"chunks": 6, "interval": 0.1})
    wait_for(lambda: job.chunk_count >= 1, what="the first chunk")
    chaos.faults.ops = ["stream", "status"]
    chaos.faults.drop = 1.0
    wait_for(lambda: job.tracking_error is not None, what="the engine to notice the outage")
    assert job.status is not JobStatus.EXPIRED and not job.is_final
    chaos.faults.clear()
    with pytest.warns(rp_jupyter.StreamGapWarning):  # a dropped /stream may have held chunks
        assert job.result(timeout=40) == [{"chunk": i} for i in range(6)] + [
            {"done": True, "slept": 0.0, "chunks": 6, "attempt": 1}]
    assert job.tracking_error is None and job.stream_complete is False


def test_a_process_that_exits_without_waiting_leaves_its_jobs_in_the_journal(chaos, rp_home):
    code = """
        import json, sys
        import rp_jupyter
        ep = rp_jupyter.Endpoint("local", base_url=sys.argv[1])
        job = ep.run({"sleep": 5})
        print(json.dumps({"id": job.id}))
        """
    child = run_python(code, {"RP_JUPYTER_HOME": str(rp_home)}, chaos.base_url, timeout=30)
    record = JobJournal.open().find(child["id"])
    assert record is not None and not record.final
    assert record.status in ("IN_QUEUE", "IN_PROGRESS")
    endpoint(chaos).job(child["id"]).cancel()
