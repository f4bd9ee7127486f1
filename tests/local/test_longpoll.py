"""Long-poll semantics of /stream, /status-sync and /runsync that clients rely on."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.local.conftest import FAST_POLICY, status_of, submit, wait_for, wait_status


@pytest.fixture(scope="module")
def tokens():
    from rp_jupyter.local import LocalEndpoint

    with LocalEndpoint("tokens", workers=2, rate_limits="off") as ep:
        ep.wait_ready(20.0)
        yield ep


@pytest.fixture
def single(start_endpoint):
    """One chaos worker, so a second job waits in the queue."""
    return start_endpoint("chaos", workers=1, rate_limits="off", **FAST_POLICY)


def drain(client, ep, job_id, wait_ms=2000, limit=10_000):
    """Read /stream until the job is final and drained; returns (chunks, calls)."""
    chunks, calls = [], []
    while len(calls) < limit:
        body = client.get(f"{ep.url}/stream/{job_id}", params={"wait": wait_ms}).json()
        calls.append(body)
        chunks.extend(item["output"] for item in body["stream"])
        if body["status"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT") \
                and not body["stream"]:
            return chunks, calls
    raise AssertionError("stream never ended")


def test_stream_delivers_every_chunk_exactly_once_in_order(tokens, client):
    words = [f"w{i}" for i in range(200)]
    job_id = submit(client, tokens, {"prompt": " ".join(words), "rate": 2000})
    chunks, calls = drain(client, tokens, job_id, wait_ms=500)
    assert chunks == [w + " " for w in words]
    assert calls[-1]["status"] == "COMPLETED" and calls[-1]["stream"] == []
    assert all(c["id"] == job_id for c in calls)
    again = client.get(f"{tokens.url}/stream/{job_id}").json()
    assert again["stream"] == [] and again["status"] == "COMPLETED"


def test_a_finished_generator_job_without_aggregation_has_empty_output(tokens, client):
    doc = client.post(f"{tokens.url}/runsync", json={"input": {"prompt": "a b", "rate": 0}})
    assert doc.json()["status"] == "COMPLETED"
    assert doc.json()["output"] == []


def test_stream_without_wait_holds_like_the_hosted_api(start_endpoint, client):
    ep = start_endpoint("chaos", stream_hold=0.3)
    job_id = submit(client, ep, {"sleep": 5})
    started = time.monotonic()
    body = client.get(f"{ep.url}/stream/{job_id}").json()
    assert time.monotonic() - started >= 0.29  # held, not answered at once
    assert body["stream"] == [] and body["status"] in ("IN_QUEUE", "IN_PROGRESS")
    client.post(f"{ep.url}/cancel/{job_id}")


def test_stream_without_wait_holds_ten_seconds_by_default_and_answers_a_chunk(single, client):
    assert single.settings.stream_hold == 10.0
    job_id = submit(client, single, {"sleep": 0.3, "chunks": 1})
    body = client.get(f"{single.url}/stream/{job_id}").json()  # one call: the chunk
    assert body["stream"][0] == {"output": {"chunk": 0}}


def test_stream_wait_ends_when_a_chunk_arrives(single, client):
    job_id = submit(client, single, {"sleep": 0.3, "chunks": 1})
    started = time.monotonic()
    body = client.get(f"{single.url}/stream/{job_id}", params={"wait": 20000}).json()
    assert time.monotonic() - started < 10.0
    assert body["stream"][0] == {"output": {"chunk": 0}}


def test_stream_wait_is_not_ended_by_the_job_starting(single, client):
    blocker = submit(client, single, {"sleep": 0.4})
    wait_status(client, single, blocker, "IN_PROGRESS")
    job_id = submit(client, single, {"sleep": 0.4, "chunks": 1})
    assert status_of(client, single, job_id)["status"] == "IN_QUEUE"
    body = client.get(f"{single.url}/stream/{job_id}", params={"wait": 20000}).json()
    assert body["stream"][0] == {"output": {"chunk": 0}}
    record = single.job_record(job_id)
    assert record["started_at"] is not None


def test_stream_wait_runs_out_with_an_empty_stream(single, client):
    job_id = submit(client, single, {"sleep": 5})
    wait_status(client, single, job_id, "IN_PROGRESS")
    started = time.monotonic()
    body = client.get(f"{single.url}/stream/{job_id}", params={"wait": 300}).json()
    assert time.monotonic() - started >= 0.29
    assert body == {"id": job_id, "status": "IN_PROGRESS", "stream": []}
    client.post(f"{single.url}/cancel/{job_id}")


def test_the_longest_wait_is_clamped_to_long_poll_max(start_endpoint, client):
    ep = start_endpoint("chaos", long_poll_max=0.3)
    job_id = submit(client, ep, {"sleep": 5})
    started = time.monotonic()
    client.get(f"{ep.url}/stream/{job_id}", params={"wait": 60000})
    client.get(f"{ep.url}/status-sync/{job_id}", params={"wait": 60000})
    assert time.monotonic() - started < 3.0
    client.post(f"{ep.url}/cancel/{job_id}")


def test_an_abandoned_stream_long_poll_does_not_lose_chunks(single, client):
    job_id = submit(client, single, {"sleep": 0.5, "chunks": 3, "interval": 0.05})
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"{single.url}/stream/{job_id}", params={"wait": 20000}, timeout=0.1)
    chunks, _ = drain(client, single, job_id)
    assert chunks == [{"chunk": 0}, {"chunk": 1}, {"chunk": 2},
                      {"done": True, "slept": 0.5, "chunks": 3, "attempt": 1}]


def test_status_sync_answers_when_the_status_changes(single, client):
    blocker = submit(client, single, {"sleep": 0.3})
    wait_status(client, single, blocker, "IN_PROGRESS")
    job_id = submit(client, single, {"sleep": 0.3})
    first = client.get(f"{single.url}/status-sync/{job_id}", params={"wait": 20000}).json()
    assert first["status"] == "IN_PROGRESS"
    assert "delayTime" in first and "workerId" in first
    second = client.get(f"{single.url}/status-sync/{job_id}", params={"wait": 20000}).json()
    assert second["status"] == "COMPLETED"
    assert second["output"] == [] and "executionTime" in second
    started = time.monotonic()
    third = client.get(f"{single.url}/status-sync/{job_id}", params={"wait": 20000}).json()
    assert time.monotonic() - started < 1.0 and third == second


def test_status_sync_without_wait_answers_at_once(single, client):
    job_id = submit(client, single, {"sleep": 3})
    started = time.monotonic()
    doc = client.post(f"{single.url}/status-sync/{job_id}").json()
    assert time.monotonic() - started < 1.0
    assert doc["status"] in ("IN_QUEUE", "IN_PROGRESS")
    client.post(f"{single.url}/cancel/{job_id}")


def test_status_sync_wait_runs_out_with_the_same_status(single, client):
    job_id = submit(client, single, {"sleep": 5})
    wait_status(client, single, job_id, "IN_PROGRESS")
    started = time.monotonic()
    doc = client.get(f"{single.url}/status-sync/{job_id}", params={"wait": 250}).json()
    assert time.monotonic() - started >= 0.24
    assert doc["status"] == "IN_PROGRESS"
    client.post(f"{single.url}/cancel/{job_id}")


def test_runsync_answers_a_non_final_document_when_its_wait_runs_out(start_endpoint, client):
    ep = start_endpoint("chaos", runsync_default_wait=0.3, return_aggregate_stream=True)
    doc = client.post(f"{ep.url}/runsync", json={"input": {"sleep": 1.0}}).json()
    assert doc["status"] in ("IN_QUEUE", "IN_PROGRESS")
    assert doc["id"].startswith("sync-") and "output" not in doc
    final = wait_status(client, ep, doc["id"], "COMPLETED")
    assert final["output"][-1]["done"] is True


def test_runsync_wait_is_clamped_to_at_least_one_second(start_endpoint, client):
    ep = start_endpoint("chaos")
    started = time.monotonic()
    doc = client.post(f"{ep.url}/runsync", params={"wait": 10},
                      json={"input": {"sleep": 5}}).json()
    assert time.monotonic() - started >= 0.99
    assert doc["status"] == "IN_PROGRESS"
    client.post(f"{ep.url}/cancel/{doc['id']}")


def test_a_thousand_queued_jobs_and_hundreds_of_held_long_polls(start_endpoint, client):
    ep = start_endpoint("echo", workers=0, ready=False)
    ids = [submit(client, ep, {"i": i}) for i in range(1000)]
    assert len(set(ids)) == 1000
    assert ep.health()["jobs"]["inQueue"] == 1000
    watched = ids[-300:]
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=300)) as pool, \
            ThreadPoolExecutor(max_workers=300) as threads:
        polls = [threads.submit(pool.get, f"{ep.url}/stream/{job_id}",
                                params={"wait": 60000}) for job_id in watched]
        wait_for(lambda: ep.in_flight("stream") == 300, timeout=20,
                 what="300 held /stream long-polls")
        assert not any(p.done() for p in polls)
        ep.settings.workers = 2
        answers = [p.result(timeout=60).json() for p in polls]
    assert [a["id"] for a in answers] == watched
    assert all(a["status"] == "COMPLETED" and a["stream"] == [] for a in answers)
    wait_for(lambda: ep.health()["jobs"]["completed"] == 1000, timeout=60,
             what="all 1000 jobs to complete")


def test_a_runsync_whose_client_hangs_up_stops_waiting(single, client):
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"{single.url}/runsync", json={"input": {"sleep": 30}}, timeout=0.3)
    wait_for(lambda: single.in_flight("runsync") == 0, 10.0,
             what="the abandoned /runsync to stop waiting")
    [record] = [w for w in single.workers() if w["job_id"]]  # the job itself goes on
    job_id = record["job_id"]
    assert status_of(client, single, job_id)["status"] == "IN_PROGRESS"
    client.post(f"{single.url}/cancel/{job_id}")
