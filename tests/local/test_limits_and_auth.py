"""Per-operation rate limits and concurrency caps (reference section 5), and API keys."""

from __future__ import annotations

import threading

import httpx
import pytest

from rp_jupyter.local import RateLimit
from tests.local.conftest import submit, wait_for, wait_status


def test_the_documented_table_limits_purge_queue_to_two_per_ten_seconds(start_endpoint,
                                                                        client):
    ep = start_endpoint("echo")
    codes = [client.post(f"{ep.url}/purge-queue").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = client.post(f"{ep.url}/purge-queue")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 10
    assert "error" in refused.json()
    assert ep.request_count("purge-queue") == 4
    assert [e["status_code"] for e in ep.request_log] == [200, 200, 429, 429]


def test_retry_after_is_the_whole_seconds_until_a_slot_frees(start_endpoint, client):
    ep = start_endpoint("echo", rate_limits={"health": RateLimit(1, 5.0, None)})
    assert client.get(f"{ep.url}/health").status_code == 200
    refused = client.get(f"{ep.url}/health")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] in ("4", "5")


def test_requests_are_allowed_again_once_the_window_has_passed(start_endpoint, client):
    ep = start_endpoint("echo", rate_limits={"status": RateLimit(3, 0.5, None)})
    job_id = submit(client, ep, {})
    codes = [client.get(f"{ep.url}/status/{job_id}").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    wait_for(lambda: client.get(f"{ep.url}/status/{job_id}").status_code == 200, timeout=5,
             interval=0.05, what="the window to free a slot")


def test_a_held_long_poll_counts_against_the_concurrency_cap(start_endpoint, client):
    ep = start_endpoint("chaos", rate_limits={"stream": RateLimit(100, 10.0, 1)})
    job_id = submit(client, ep, {"sleep": 1.0, "chunks": 1})
    held: dict = {}
    thread = threading.Thread(target=lambda: held.setdefault(
        "r", httpx.get(f"{ep.url}/stream/{job_id}", params={"wait": 20000}, timeout=30)))
    thread.start()
    wait_for(lambda: ep.in_flight("stream") == 1, what="the long-poll to be held")
    refused = client.get(f"{ep.url}/stream/{job_id}")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    thread.join(30)
    assert held["r"].status_code == 200 and held["r"].json()["stream"]
    assert client.get(f"{ep.url}/stream/{job_id}").status_code == 200


def test_rate_scale_multiplies_the_table(start_endpoint, client):
    ep = start_endpoint("echo", rate_scale=0.001)
    assert client.post(f"{ep.url}/run", json={"input": {}}).status_code == 200
    assert client.post(f"{ep.url}/run", json={"input": {}}).status_code == 429
    assert ep.settings.effective_rate_limits()["run"] == RateLimit(1, 10.0, 1)


def test_rate_limits_can_be_switched_off_and_changed_while_running(start_endpoint, client):
    ep = start_endpoint("echo", rate_limits="off")
    assert all(client.post(f"{ep.url}/purge-queue").status_code == 200 for _ in range(5))
    ep.settings.rate_limits = {"health": RateLimit(1, 60.0, None)}
    assert client.get(f"{ep.url}/health").status_code == 200
    assert client.get(f"{ep.url}/health").status_code == 429
    ep.settings.rate_limits = None
    assert client.get(f"{ep.url}/health").status_code == 200


@pytest.fixture(scope="module")
def keyed():
    from rp_jupyter.local import LocalEndpoint

    with LocalEndpoint("echo", api_key="sekret-key", rate_limits="off") as ep:
        ep.wait_ready(20.0)
        yield ep


@pytest.mark.parametrize("header", ["Bearer sekret-key", "sekret-key", "bearer sekret-key"])
def test_the_key_is_accepted_with_or_without_bearer(keyed, client, header):
    response = client.post(f"{keyed.url}/runsync", json={"input": {"k": 1}},
                           headers={"Authorization": header})
    assert response.status_code == 200
    assert response.json()["output"] == {"echo": {"k": 1}}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": ""}])
def test_a_missing_or_wrong_key_is_a_401_with_a_json_error(keyed, client, headers):
    for method, op in (("POST", "run"), ("GET", "health"), ("GET", "status/x")):
        response = client.request(method, f"{keyed.url}/{op}", headers=headers,
                                  json={"input": {}} if op == "run" else None)
        assert response.status_code == 401
        assert isinstance(response.json()["error"], str)
    assert keyed.health()["jobs"]["inQueue"] == 0


def test_worker_routes_and_admin_routes_need_the_key_too(keyed, client):
    root = keyed.server.root_url
    assert client.get(f"{keyed.url}/job-take/someone").status_code == 401
    assert client.get(f"{root}/_local/stats", params={"endpoint": "local"}).status_code == 401
    ok = client.get(f"{root}/_local/stats", params={"endpoint": "local"},
                    headers={"Authorization": "sekret-key"})
    assert ok.status_code == 200


def test_the_key_never_shows_in_reprs(keyed):
    assert "sekret-key" not in repr(keyed.settings)
    assert "sekret-key" not in repr(keyed)


def test_no_key_configured_means_open(echo, client):
    response = client.get(f"{echo.url}/health", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 200
    job_id = submit(client, echo, {})
    assert wait_status(client, echo, job_id, "COMPLETED")["status"] == "COMPLETED"
