"""Cancel, retry, purge, execution timeout, ttl, priority, crashes and retention."""

from __future__ import annotations

import pytest

from tests.local.conftest import (
    FAST_POLICY,
    process_alive,
    status_of,
    submit,
    wait_for,
    wait_status,
)


@pytest.fixture
def one(start_endpoint):
    """One chaos worker with aggregate output and tiny policy bounds."""
    return start_endpoint("chaos", workers=1, rate_limits="off", return_aggregate_stream=True,
                          **FAST_POLICY)


def _busy(client, ep, seconds=30.0):
    """Occupy the only worker; returns the job id."""
    job_id = submit(client, ep, {"sleep": seconds})
    wait_status(client, ep, job_id, "IN_PROGRESS")
    return job_id


def test_cancel_removes_a_queued_job(one, client):
    blocker = _busy(client, one)
    job_id = submit(client, one, {})
    response = client.post(f"{one.url}/cancel/{job_id}")
    assert response.status_code == 200
    assert response.json() == {"id": job_id, "status": "CANCELLED"}
    assert one.health()["jobs"]["inQueue"] == 0
    client.post(f"{one.url}/cancel/{blocker}")
    assert status_of(client, one, job_id)["status"] == "CANCELLED"
    assert one.job_record(job_id)["started_at"] is None


def test_cancel_stops_a_handler_that_never_yields(one, client):
    job_id = submit(client, one, {"hang": True})
    running = wait_status(client, one, job_id, "IN_PROGRESS")
    pid = next(w["pid"] for w in one.workers() if w["id"] == running["workerId"])
    doc = client.post(f"{one.url}/cancel/{job_id}").json()
    assert doc["status"] == "CANCELLED"
    assert {"delayTime", "executionTime", "workerId"} <= set(doc)
    wait_for(lambda: not process_alive(pid), what="the stuck worker process to be killed")
    after = client.post(f"{one.url}/runsync", json={"input": {}}).json()
    assert after["status"] == "COMPLETED"
    assert after["workerId"] != running["workerId"]
    assert status_of(client, one, job_id)["status"] == "CANCELLED"


def test_cancel_of_a_finished_job_answers_its_unchanged_document(one, client):
    doc = client.post(f"{one.url}/runsync", json={"input": {}}).json()
    assert doc["status"] == "COMPLETED"
    cancelled = client.post(f"{one.url}/cancel/{doc['id']}")
    assert cancelled.status_code == 200 and cancelled.json() == doc


def test_the_execution_timeout_fails_the_job_and_stops_the_handler(one, client):
    job_id = submit(client, one, {"hang": True}, policy={"executionTimeout": 300})
    running = wait_status(client, one, job_id, "IN_PROGRESS")
    pid = next(w["pid"] for w in one.workers() if w["id"] == running["workerId"])
    doc = wait_status(client, one, job_id, "FAILED")
    assert doc["error"] == "executionTimeout exceeded"
    assert doc["executionTime"] >= 290
    wait_for(lambda: not process_alive(pid), what="the timed-out worker to be killed")
    assert client.post(f"{one.url}/runsync", json={"input": {}}).json()["status"] == \
        "COMPLETED"


def test_the_default_execution_timeout_is_a_setting(start_endpoint, client):
    ep = start_endpoint("chaos", default_execution_timeout=0.3)
    doc = client.post(f"{ep.url}/runsync", json={"input": {"sleep": 30}}).json()
    assert doc["status"] == "FAILED" and doc["error"] == "executionTimeout exceeded"


def test_a_job_whose_ttl_runs_out_in_the_queue_is_timed_out(one, client):
    blocker = _busy(client, one)
    job_id = submit(client, one, {}, policy={"ttl": 200})
    doc = wait_status(client, one, job_id, "TIMED_OUT")
    assert "delayTime" not in doc and "workerId" not in doc
    client.post(f"{one.url}/cancel/{blocker}")


def test_a_ttl_does_not_stop_a_job_already_running(one, client):
    job_id = submit(client, one, {"sleep": 0.5}, policy={"ttl": 300})
    assert wait_status(client, one, job_id, ("COMPLETED", "TIMED_OUT"))["status"] == \
        "COMPLETED"


def test_low_priority_jobs_wait_behind_normal_ones(one, client):
    blocker = _busy(client, one, 0.3)
    low = submit(client, one, {}, policy={"lowPriority": True})
    normal = submit(client, one, {})
    wait_status(client, one, low, "COMPLETED")
    wait_status(client, one, normal, "COMPLETED")
    assert one.job_record(normal)["started_at"] < one.job_record(low)["started_at"]
    assert status_of(client, one, blocker)["status"] == "COMPLETED"


def test_the_queue_is_first_in_first_out(one, client):
    blocker = _busy(client, one, 0.3)
    ids = [submit(client, one, {"n": i}) for i in range(5)]
    for job_id in ids:
        wait_status(client, one, job_id, "COMPLETED")
    starts = [one.job_record(job_id)["started_at"] for job_id in ids]
    assert starts == sorted(starts)
    assert status_of(client, one, blocker)["status"] == "COMPLETED"


def test_a_worker_process_that_dies_fails_its_job_and_is_replaced(one, client):
    doc = client.post(f"{one.url}/runsync", json={"input": {"crash": True, "exit_code": 7}})
    doc = doc.json()
    assert doc["status"] == "FAILED"
    assert "worker process exited" in doc["error"] and "exit code 7" in doc["error"]
    after = client.post(f"{one.url}/runsync", json={"input": {}}).json()
    assert after["status"] == "COMPLETED" and after["workerId"] != doc["workerId"]


def test_retry_requeues_a_failed_job_under_the_same_id(one, client):
    job_id = submit(client, one, {"fail_first": True})
    failed = wait_status(client, one, job_id, "FAILED")
    assert "fail_first" in failed["error"]
    response = client.post(f"{one.url}/retry/{job_id}")
    assert response.status_code == 200
    assert response.json() == {"id": job_id, "status": "IN_QUEUE"}
    doc = wait_status(client, one, job_id, "COMPLETED")
    assert "error" not in doc
    assert doc["output"][-1] == {"done": True, "slept": 0.0, "chunks": 0, "attempt": 2}
    assert one.job_record(job_id)["attempts"] == 2
    assert one.health()["jobs"]["retried"] == 1


def test_retry_clears_the_old_output_and_chunks(one, client):
    # it runs long enough that the status right after the retry sees it unfinished
    job_id = submit(client, one, {"chunks": 2, "fail": "boom", "sleep": 0.5})
    failed = wait_status(client, one, job_id, "FAILED")
    assert failed["error"].startswith("handler: boom")
    client.post(f"{one.url}/retry/{job_id}")
    assert status_of(client, one, job_id).get("error") is None
    wait_status(client, one, job_id, "FAILED")
    stream = client.get(f"{one.url}/stream/{job_id}").json()["stream"]
    assert [c["output"] for c in stream] == [{"chunk": 0}, {"chunk": 1}]


def test_retry_works_on_timed_out_jobs(start_endpoint, client):
    ep = start_endpoint("echo", workers=0, ready=False, **FAST_POLICY)
    job_id = submit(client, ep, {"t": 1}, policy={"ttl": 1000})
    wait_status(client, ep, job_id, "TIMED_OUT")
    assert client.post(f"{ep.url}/retry/{job_id}").json() == {"id": job_id,
                                                               "status": "IN_QUEUE"}
    ep.settings.workers = 1
    doc = wait_status(client, ep, job_id, "COMPLETED")
    assert doc["output"] == {"echo": {"t": 1}}
    assert ep.job_record(job_id)["attempts"] == 2


@pytest.mark.parametrize("job_input, status", [({}, "COMPLETED"),
                                               ({"sleep": 30}, "IN_PROGRESS")])
def test_retry_of_a_job_that_is_not_failed_is_a_400(one, client, job_input, status):
    job_id = submit(client, one, job_input)
    wait_status(client, one, job_id, status)
    response = client.post(f"{one.url}/retry/{job_id}")
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Bad Request" and status in body["detail"]
    assert "only FAILED or TIMED_OUT" in body["detail"]
    client.post(f"{one.url}/cancel/{job_id}")


def test_purge_queue_removes_only_queued_jobs(one, client):
    blocker = _busy(client, one)
    queued = [submit(client, one, {}) for _ in range(3)]
    response = client.post(f"{one.url}/purge-queue")
    assert response.status_code == 200
    assert response.json() == {"removed": 3, "status": "completed"}
    assert status_of(client, one, blocker)["status"] == "IN_PROGRESS"
    assert all(status_of(client, one, j)["status"] == "CANCELLED" for j in queued)
    assert client.post(f"{one.url}/purge-queue").json() == {"removed": 0,
                                                            "status": "completed"}
    client.post(f"{one.url}/cancel/{blocker}")


def test_a_run_result_expires_after_the_run_retention(start_endpoint, client):
    ep = start_endpoint("echo", run_retention=0.3, sync_retention=60)
    job_id = submit(client, ep, {})
    wait_status(client, ep, job_id, "COMPLETED")
    wait_for(lambda: client.get(f"{ep.url}/status/{job_id}").status_code == 404,
             timeout=5, what="the result to expire")
    response = client.get(f"{ep.url}/status/{job_id}")
    assert response.json() == {"error": "job not found"}
    assert client.post(f"{ep.url}/retry/{job_id}").status_code == 404
    assert ep.job_record(job_id) is None


def test_a_sync_result_expires_after_the_sync_retention(start_endpoint, client):
    ep = start_endpoint("echo", run_retention=60, sync_retention=0.3)
    doc = client.post(f"{ep.url}/runsync", json={"input": {}}).json()
    run_id = submit(client, ep, {})
    wait_status(client, ep, run_id, "COMPLETED")
    wait_for(lambda: client.get(f"{ep.url}/status/{doc['id']}").status_code == 404,
             timeout=5, what="the sync result to expire")
    assert client.get(f"{ep.url}/status/{run_id}").status_code == 200


def test_status_ttl_shortens_the_retention_of_a_result(start_endpoint, client):
    ep = start_endpoint("echo")
    job_id = submit(client, ep, {})
    wait_status(client, ep, job_id, "COMPLETED")
    assert client.get(f"{ep.url}/status/{job_id}", params={"ttl": 200}).status_code == 200
    wait_for(lambda: client.get(f"{ep.url}/status/{job_id}").status_code == 404,
             timeout=5, what="the ttl to remove the result")


def test_a_policy_ttl_also_caps_the_retention(start_endpoint, client):
    ep = start_endpoint("echo", **FAST_POLICY)
    job_id = submit(client, ep, {}, policy={"ttl": 300})
    wait_status(client, ep, job_id, "COMPLETED")
    wait_for(lambda: client.get(f"{ep.url}/status/{job_id}").status_code == 404,
             timeout=5, what="the policy ttl to remove the result")


def test_retention_changes_take_effect_on_a_running_endpoint(start_endpoint, client):
    ep = start_endpoint("echo")
    job_id = submit(client, ep, {})
    wait_status(client, ep, job_id, "COMPLETED")
    assert client.get(f"{ep.url}/status/{job_id}").status_code == 200
    ep.settings.run_retention = 0.0
    assert client.get(f"{ep.url}/status/{job_id}").status_code == 404
