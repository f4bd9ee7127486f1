"""Fault injection: scripted and random 429/500/503, dropped connections, latency."""

from __future__ import annotations

import time

import httpx
import pytest

from rp_jupyter.local import Faults


@pytest.fixture
def queue_only(start_endpoint):
    """An endpoint without workers: accepted jobs stay in the queue, easy to count."""
    return start_endpoint("echo", workers=0, ready=False, rate_limits="off")


def test_scripted_statuses_come_in_order_then_requests_succeed(queue_only, client):
    ep = queue_only
    ep.faults.retry_after = 0.05
    ep.faults.script("health", ["429", "500", "503", "ok"])
    responses = [client.get(f"{ep.url}/health") for _ in range(5)]
    assert [r.status_code for r in responses] == [429, 500, 503, 200, 200]
    assert responses[0].headers["retry-after"] == "0.05"
    assert all("error" in r.json() for r in responses[:3])
    assert ep.request_count("health") == 5
    assert [e["status_code"] for e in ep.request_log] == [429, 500, 503, 200, 200]


def test_a_dropped_run_is_not_accepted(queue_only, client):
    ep = queue_only
    ep.faults.script("run", ["drop"])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post(f"{ep.url}/run", json={"input": {}})
    assert ep.health()["jobs"]["inQueue"] == 0
    assert ep.request_count("run") == 1
    assert ep.request_log[-1]["status_code"] is None
    assert client.post(f"{ep.url}/run", json={"input": {}}).status_code == 200


def test_drop_after_accepts_the_run_but_loses_the_answer(queue_only, client):
    ep = queue_only
    ep.faults.script("run", ["drop_after"])
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.post(f"{ep.url}/run", json={"input": {}})
    assert ep.health()["jobs"]["inQueue"] == 1
    assert ep.request_log[-1]["job_id"] is not None


def test_random_shares_are_reproducible_with_a_seed(queue_only, client):
    ep = queue_only
    first = Faults(status_503=0.5, seed=7)
    second = Faults(status_503=0.5, seed=7)
    sequence = [first.decide("status") for _ in range(50)]
    assert sequence == [second.decide("status") for _ in range(50)]
    assert 10 <= sequence.count("503") <= 40
    ep.faults.status_503 = 0.5
    ep.faults.seed = 7
    codes = [client.get(f"{ep.url}/health").status_code for _ in range(50)]
    assert codes == [503 if kind == "503" else 200 for kind in sequence]


def test_faults_can_be_limited_to_some_operations(queue_only, client):
    ep = queue_only
    ep.faults.status_500 = 1.0
    ep.faults.ops = ["health"]
    assert client.get(f"{ep.url}/health").status_code == 500
    assert client.post(f"{ep.url}/run", json={"input": {}}).status_code == 200
    ep.faults.clear()
    assert client.get(f"{ep.url}/health").status_code == 200


def test_random_drops_break_the_connection(queue_only, client):
    ep = queue_only
    ep.faults.drop = 1.0
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.get(f"{ep.url}/health")
    ep.faults.drop = 0.0
    assert client.get(f"{ep.url}/health").status_code == 200


def test_latency_is_added_to_requests(queue_only, client):
    ep = queue_only
    ep.faults.latency = 0.3
    started = time.monotonic()
    assert client.get(f"{ep.url}/health").status_code == 200
    assert time.monotonic() - started >= 0.29


def test_unknown_script_kinds_are_refused():
    with pytest.raises(ValueError):
        Faults().script("run", ["explode"])


def test_faults_and_stats_over_the_admin_routes(queue_only, client):
    ep = queue_only
    root = ep.server.root_url
    response = client.post(f"{root}/_local/faults/{ep.endpoint_id}",
                           json={"script": {"status": ["503"]}, "retry_after": 0.1})
    assert response.status_code == 200
    assert response.json()["script"] == {"status": ["503"]}
    assert ep.faults.retry_after == 0.1
    job_id = client.post(f"{ep.url}/run", json={"input": {}}).json()["id"]
    assert client.get(f"{ep.url}/status/{job_id}").status_code == 503
    assert client.get(f"{ep.url}/status/{job_id}").status_code == 200
    stats = client.get(f"{root}/_local/stats", params={"endpoint": ep.endpoint_id}).json()
    assert stats["by_op"] == {"run": 1, "status": 2}
    assert stats["by_job"] == {job_id: 3}
    record = client.get(f"{root}/_local/jobs/{ep.endpoint_id}/{job_id}").json()
    assert record["status"] == "IN_QUEUE" and record["submitted_at"] > 0
    assert client.post(f"{root}/_local/stats/reset").status_code == 200
    assert ep.request_count() == 0
    assert client.get(f"{root}/_local/jobs/nope/{job_id}").status_code == 404
    assert client.post(f"{root}/_local/faults/{ep.endpoint_id}",
                       json={"clear": True}).json()["script"] == {}
