"""The fault-injecting proxy: each kind of fault does what it says, and the log tells
requests that reached the endpoint from those that did not."""

from __future__ import annotations

import httpx
import pytest

from rp_jupyter.local import LocalEndpoint
from rp_jupyter.local.fault_proxy import FaultProxy


@pytest.fixture(scope="module")
def echo():
    with LocalEndpoint("echo", workers=1, rate_limits="off") as server:
        server.wait_ready()
        yield server


@pytest.fixture
def proxy(echo):
    echo.reset_stats()
    with FaultProxy(echo.server.root_url, seed=3) as proxy:
        yield proxy


def test_an_ok_request_is_relayed_unchanged(echo, proxy):
    with httpx.Client() as http:
        doc = http.post(f"{proxy.base_url}/{echo.endpoint_id}/runsync",
                        json={"input": {"x": 1}}).json()
    assert doc["status"] == "COMPLETED" and doc["output"] == {"echo": {"x": 1}}
    assert proxy.counts() == {"ok": 1}
    assert echo.request_count("runsync") == 1


@pytest.mark.parametrize("kind,status", [("429", 429), ("503", 503), ("502_before", 502)])
def test_refusals_never_reach_the_endpoint(echo, proxy, kind, status):
    proxy.script("run", [kind])
    with httpx.Client() as http:
        response = http.post(f"{proxy.base_url}/{echo.endpoint_id}/run", json={"input": {}})
    assert response.status_code == status
    if status == 429:
        assert float(response.headers["Retry-After"]) == pytest.approx(proxy.retry_after)
    assert echo.request_count("run") == 0
    assert [p.forwarded for p in proxy.log] == [False]


def test_a_502_after_forwarding_ran_the_request(echo, proxy):
    proxy.script("run", ["502_after"])
    with httpx.Client() as http:
        response = http.post(f"{proxy.base_url}/{echo.endpoint_id}/run", json={"input": {}})
    assert response.status_code == 502
    assert echo.request_count("run") == 1  # the job was accepted upstream
    assert proxy.log[0].forwarded and proxy.log[0].upstream_status == 200


@pytest.mark.parametrize("kind,reached", [("reset_before", 0), ("reset_after", 1)])
def test_resets_drop_the_connection_before_or_after_forwarding(echo, proxy, kind, reached):
    proxy.script("run", [kind])
    with httpx.Client() as http, pytest.raises(httpx.TransportError):
        http.post(f"{proxy.base_url}/{echo.endpoint_id}/run", json={"input": {}})
    assert echo.request_count("run") == reached


def test_a_rate_spreads_faults_over_requests_reproducibly(echo):
    def run_once() -> list[str]:
        with FaultProxy(echo.server.root_url, rate=0.5, seed=11, ops={"health"}) as proxy, \
                httpx.Client() as http:
            for _ in range(40):
                try:
                    http.get(f"{proxy.base_url}/{echo.endpoint_id}/health")
                except httpx.TransportError:
                    pass
            return [p.kind for p in proxy.log]

    first = run_once()
    assert first == run_once()
    assert 5 < sum(kind != "ok" for kind in first) < 35
