"""Job and endpoint ids are checked before any request: one that would leave its route is
refused, never sent nor journaled; what may need escaping is percent-encoded (issue 13)."""

from __future__ import annotations

import asyncio

import pytest

import rp_jupyter
from rp_jupyter.api.client import Connection
from rp_jupyter.api.retry import RetryPolicy
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.local import LocalServer
from rp_jupyter.wire_rules import id_problem, path_segment

ESCAPING_IDS = ["../health", "../../b/purge-queue", "a/b", ".", "..", "", "   ", "a\\b",
                "a\x00b", "line\n", "tab\tid", "del\x7f", "x" * 300, "bad\udcff"]
REAL_SHAPES = ["6c1f0f4e-4f5f-4b9a-9c8e-2f1d0c9b8a7e-u1", "sync-6c1f0f4e-4f5f-u1",
               "test-uuid", "uuid-u1", "abc123xyz"]


@pytest.fixture(scope="module")
def two_endpoints():
    """Endpoints "a" and "b" on one server, so a stray path could reach the other one."""
    with LocalServer() as server:
        server.add_endpoint("a", "echo", workers=1)
        server.add_endpoint("b", "echo", workers=1)
        for handle in server.endpoints.values():
            handle.wait_ready(30)
        yield server


@pytest.fixture
def server(two_endpoints):
    for handle in two_endpoints.endpoints.values():
        handle.reset_stats()
    return two_endpoints


def total(server: LocalServer) -> int:
    return sum(handle.request_count() for handle in server.endpoints.values())


@pytest.mark.parametrize("job_id", ESCAPING_IDS)
def test_a_job_id_that_would_leave_its_route_is_never_sent_nor_journaled(server, job_id):
    ep = rp_jupyter.Endpoint("a", base_url=server.base_url)
    with pytest.raises(rp_jupyter.InvalidRequestError) as caught:
        ep.job(job_id)
    assert "invalid job id" in str(caught.value) and "nothing was sent" in str(caught.value)
    assert total(server) == 0
    assert JobJournal.open().count() == 0


@pytest.mark.parametrize("operation", ["status", "status_sync", "stream", "cancel", "retry"])
@pytest.mark.parametrize("job_id", ["../health", "../../b/purge-queue", "a/b", ".."])
def test_every_client_call_with_an_id_in_its_path_checks_it(server, operation, job_id):
    connection = Connection(server.base_url, None, retry=RetryPolicy(max_retries=0))
    client = connection.endpoint("a")
    call = getattr(client, operation)

    async def attempt() -> None:
        try:
            if operation == "status_sync":
                await call(job_id, wait_ms=0)
            else:
                await call(job_id)
        finally:
            await connection.aclose()

    with pytest.raises(rp_jupyter.InvalidRequestError):
        asyncio.run(attempt())
    assert total(server) == 0


@pytest.mark.parametrize("endpoint_id", [i for i in ESCAPING_IDS if i != "line\n"] + ["li\nne"])
def test_an_endpoint_id_that_would_leave_its_route_is_refused(endpoint_id):
    with pytest.raises(rp_jupyter.InvalidRequestError, match="invalid endpoint id"):
        rp_jupyter.Endpoint(endpoint_id, base_url="http://127.0.0.1:9/v2")


def test_spaces_around_an_endpoint_id_are_dropped():
    assert rp_jupyter.Endpoint(" abc\n", base_url="http://127.0.0.1:9/v2").endpoint_id == "abc"


@pytest.mark.parametrize("job_id", ["what?x=1", "frag#ment", "with space", "100%", "é-ü"])
def test_an_id_that_needs_escaping_is_sent_percent_encoded_as_one_segment(server, job_id):
    ep = rp_jupyter.Endpoint("a", base_url=server.base_url)
    with pytest.raises(rp_jupyter.JobNotFoundError):
        ep.job(job_id)
    log = server.endpoint("a").request_log
    assert [(e["op"], e["job_id"], e["status_code"]) for e in log] == [
        ("status", job_id, 404)]
    assert server.endpoint("b").request_count() == 0


@pytest.mark.parametrize("job_id", REAL_SHAPES)
def test_real_id_shapes_pass_unchanged(job_id):
    assert id_problem(job_id) is None
    assert path_segment(job_id) == job_id


def test_a_real_job_is_attached_by_its_id(server):
    ep = rp_jupyter.Endpoint("a", base_url=server.base_url)
    job_id = ep.run({"x": 1}).id
    assert ep.job(job_id).result(timeout=30) == {"echo": {"x": 1}}
