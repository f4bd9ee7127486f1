"""The job API routes and documents (reference sections 2 and 3)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.local.conftest import submit, wait_status

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_run_answers_in_queue_with_a_uuid_id(echo, client):
    response = client.post(f"{echo.url}/run", json={"input": {"x": 1}})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "IN_QUEUE"
    assert set(body) == {"id", "status"}
    assert re.fullmatch(UUID + r"(-u1)?", body["id"])


def test_status_of_a_finished_run_job_is_the_full_document(echo, client):
    job_id = submit(client, echo, {"x": 1})
    doc = wait_status(client, echo, job_id, "COMPLETED")
    assert doc["id"] == job_id
    assert doc["output"] == {"echo": {"x": 1}}
    assert isinstance(doc["delayTime"], int) and doc["delayTime"] >= 0
    assert isinstance(doc["executionTime"], int) and doc["executionTime"] >= 0
    assert doc["workerId"] in {w["id"] for w in echo.workers()}
    assert "error" not in doc


def test_runsync_returns_the_final_document_with_a_sync_id(echo, client):
    response = client.post(f"{echo.url}/runsync", json={"input": {"y": [1, 2]}})
    assert response.status_code == 200
    doc = response.json()
    assert re.fullmatch("sync-" + UUID + r"(-u1)?", doc["id"])
    assert doc["status"] == "COMPLETED"
    assert doc["output"] == {"echo": {"y": [1, 2]}}
    assert {"delayTime", "executionTime", "workerId"} <= set(doc)


def test_a_sync_job_can_be_read_with_status_afterwards(echo, client):
    doc = client.post(f"{echo.url}/runsync", json={"input": {"z": 1}}).json()
    again = client.get(f"{echo.url}/status/{doc['id']}").json()
    assert again == doc


@pytest.mark.parametrize("op", ["status", "status-sync", "stream"])
def test_status_status_sync_and_stream_accept_get_and_post(echo, client, op):
    job_id = submit(client, echo, {"m": op})
    wait_status(client, echo, job_id, "COMPLETED")
    for method in ("GET", "POST"):
        response = client.request(method, f"{echo.url}/{op}/{job_id}")
        assert response.status_code == 200, (method, response.text)
        assert response.json()["id"] == job_id
        assert response.json()["status"] == "COMPLETED"


@pytest.mark.parametrize("op", ["status", "status-sync", "stream", "cancel", "retry"])
def test_an_unknown_job_is_a_404_job_not_found(echo, client, op):
    method = "GET" if op in ("status", "status-sync", "stream") else "POST"
    response = client.request(method, f"{echo.url}/{op}/{uuid.uuid4()}-u1")
    assert response.status_code == 404
    assert response.json() == {"error": "job not found"}


@pytest.mark.parametrize("path", ["run", "health", "status/abc"])
def test_an_unknown_endpoint_is_a_404_endpoint_not_found(echo, client, path):
    method = "POST" if path == "run" else "GET"
    kwargs = {"json": {"input": {}}} if path == "run" else {}
    response = client.request(method, f"{echo.base_url}/nope/{path}", **kwargs)
    assert response.status_code == 404
    assert response.json() == {"error": "endpoint not found"}


def test_a_wrong_method_is_a_405(echo, client):
    response = client.get(f"{echo.url}/run")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


def test_health_has_the_documented_shape_and_counts_jobs(echo, client):
    before = client.get(f"{echo.url}/health").json()
    assert set(before) == {"jobs", "workers"}
    assert set(before["jobs"]) == {"completed", "failed", "inProgress", "inQueue", "retried"}
    assert set(before["workers"]) == {"idle", "initializing", "ready", "running", "throttled",
                                      "unhealthy"}
    client.post(f"{echo.url}/runsync", json={"input": {}})
    after = client.get(f"{echo.url}/health").json()
    assert after["jobs"]["completed"] == before["jobs"]["completed"] + 1
    assert after["workers"]["ready"] == after["workers"]["idle"]


def test_job_record_shows_wall_clock_times(echo, client):
    doc = client.post(f"{echo.url}/runsync", json={"input": {"r": 1}}).json()
    record = echo.job_record(doc["id"])
    assert record is not None
    assert record["status"] == "COMPLETED"
    assert record["submitted_at"] <= record["started_at"] <= record["finished_at"]
    assert record["worker_id"] == doc["workerId"]
    assert record["attempts"] == 1
    assert echo.job_record("missing") is None


def test_request_count_counts_by_op_and_job(echo, client):
    echo.reset_stats()
    job_id = submit(client, echo, {"c": 1})
    wait_status(client, echo, job_id, "COMPLETED")
    polls = echo.request_count("status", job_id)
    assert polls >= 1
    client.get(f"{echo.url}/status/{job_id}")
    assert echo.request_count("status", job_id) == polls + 1
    assert echo.request_count("run") == 1
    assert echo.request_count(job_id=job_id) == polls + 2
    assert echo.request_count() == polls + 2
    log = echo.request_log
    assert log[0]["op"] == "run" and log[0]["job_id"] == job_id
    assert log[0]["status_code"] == 200 and log[0]["method"] == "POST"
    echo.reset_stats()
    assert echo.request_count() == 0


def test_worker_routes_are_not_counted(echo, client):
    echo.reset_stats()
    client.post(f"{echo.url}/runsync", json={"input": {}})
    assert echo.request_count() == 1
    assert echo.request_count("runsync") == 1


def test_one_server_hosts_several_endpoints_with_their_own_handlers():
    from rp_jupyter.local import LocalServer

    with LocalServer() as server:
        a = server.add_endpoint("a", "echo")
        b = server.add_endpoint("b", "tests.local.handlers:returns_scalar", workers=1,
                                run_retention=5.0)
        a.wait_ready()
        b.wait_ready()
        assert a.base_url == b.base_url == server.base_url
        with httpx.Client(timeout=10) as client:
            out_a = client.post(f"{a.url}/runsync", json={"input": {"v": 1}}).json()
            out_b = client.post(f"{b.url}/runsync", json={"input": {"value": 7}}).json()
        assert out_a["output"] == {"echo": {"v": 1}}
        assert out_b["output"] == 7
        assert b.settings.run_retention == 5.0 and a.settings.run_retention == 1800.0
        assert a.request_count() == 1 and b.request_count() == 1


def test_an_endpoint_can_be_added_to_a_running_server(client):
    from rp_jupyter.local import LocalServer

    with LocalServer() as server:
        first = server.add_endpoint("first", "echo")
        first.wait_ready()
        later = server.add_endpoint("later", "tests.local.handlers:returns_scalar")
        later.wait_ready()
        doc = client.post(f"{later.url}/runsync", json={"input": {"value": "late"}}).json()
        assert doc["output"] == "late"
        assert client.get(f"{first.url}/health").status_code == 200
