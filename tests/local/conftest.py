"""Fixtures for the local endpoint tests: endpoints on free loopback ports, and waiting
on observable conditions with a deadline (never a bare sleep)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from rp_jupyter.local import LocalEndpoint
from tests.waiting import wait_for

#: lower bounds for policy values small enough for tests
FAST_POLICY = {"min_ttl": 0.05, "min_execution_timeout": 0.05}
FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def status_of(client: httpx.Client, ep: Any, job_id: str) -> dict[str, Any]:
    response = client.get(f"{ep.url}/status/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_status(client: httpx.Client, ep: Any, job_id: str,
                statuses: tuple[str, ...] | str = FINAL, timeout: float = 10.0) -> dict:
    """Poll ``/status`` until the job is in one of ``statuses``; returns the document."""
    if isinstance(statuses, str):
        statuses = (statuses,)

    def check() -> dict | None:
        doc = status_of(client, ep, job_id)
        return doc if doc["status"] in statuses else None

    return wait_for(check, timeout, what=f"job {job_id} to reach {statuses}")


def submit(client: httpx.Client, ep: Any, job_input: dict, **extra: Any) -> str:
    response = client.post(f"{ep.url}/run", json={"input": job_input, **extra})
    assert response.status_code == 200, response.text
    return response.json()["id"]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as c:
        yield c


@pytest.fixture
def start_endpoint() -> Iterator[Callable[..., LocalEndpoint]]:
    """``start_endpoint(handler, ready=True, **kwargs)``: a running LocalEndpoint, stopped
    after the test."""
    started: list[LocalEndpoint] = []

    def start(handler: Any, ready: bool = True, **kwargs: Any) -> LocalEndpoint:
        ep = LocalEndpoint(handler, **kwargs).start()
        started.append(ep)
        if ready:
            ep.wait_ready(20.0)
        return ep

    yield start
    for ep in started:
        ep.stop()


@pytest.fixture(scope="module")
def echo() -> Iterator[LocalEndpoint]:
    """A shared echo endpoint (2 workers, no rate limits)."""
    with LocalEndpoint("echo", workers=2, rate_limits="off") as ep:
        ep.wait_ready(20.0)
        yield ep


@pytest.fixture(scope="module")
def chaos() -> Iterator[LocalEndpoint]:
    """A shared chaos endpoint (2 workers, aggregate stream, tiny policy bounds)."""
    with LocalEndpoint("chaos", workers=2, rate_limits="off", return_aggregate_stream=True,
                       **FAST_POLICY) as ep:
        ep.wait_ready(20.0)
        yield ep
