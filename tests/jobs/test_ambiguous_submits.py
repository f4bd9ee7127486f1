"""A ``/run`` whose answer was lost after it may have reached the server is never sent
again and never reported as "not sent": the error is flagged ``maybe_sent``, the journal
says the job may have been accepted, and the message says how to check."""

from __future__ import annotations

import pytest

import rp_jupyter
from rp_jupyter.api.errors import APIConnectionError, APIStatusError
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.local.fault_proxy import FaultProxy
from rp_jupyter.notebook.jobs_table import static_jobs_bundle
from tests.client_support import server_job_count, start_local


@pytest.fixture
def proxy(chaos):
    with FaultProxy(chaos.server.root_url, seed=1) as proxy:
        yield proxy


def through(proxy, server) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=proxy.base_url)


@pytest.mark.parametrize(("kind", "error", "reached"), [
    ("502_after", rp_jupyter.ServerError, 1),  # a gateway's 502 after forwarding: it ran
    ("reset_after", APIConnectionError, 1),
    ("502_before", rp_jupyter.ServerError, 0),  # the client cannot tell it from 502_after
    ("reset_before", APIConnectionError, 0),
])
def test_a_run_that_may_have_been_accepted_is_flagged_and_never_resent(
        chaos, proxy, kind, error, reached):
    proxy.script("run", [kind])
    with pytest.raises(error) as caught:
        through(proxy, chaos).run({"sleep": 0, "tag": kind})
    exc = caught.value
    assert exc.maybe_sent is True
    assert "may have been accepted" in str(exc)
    assert "%runpod jobs" in exc.hint and "queue" in exc.hint and "not sent again" in exc.hint
    assert proxy.counts("run") == {kind: 1}  # sent once, never again
    assert server_job_count(chaos) == reached
    record = JobJournal.open().list(endpoint_id=chaos.endpoint_id)[0]
    assert record.status == "MAYBE_ACCEPTED" and record.final and record.job_id is None
    assert "may have been accepted" in record.note
    table = static_jobs_bundle([record])["text/plain"]
    assert "MAYBE_ACCEPTED" in table and "may have been accepted" in table


def test_a_refused_run_is_retried_and_not_flagged(chaos, proxy):
    proxy.script("run", ["503", "429"])
    job = through(proxy, chaos).run({"sleep": 0})
    assert job.result(timeout=20)[-1]["done"] is True
    assert [p.kind for p in proxy.log if p.op == "run"] == ["503", "429", "ok"]
    assert server_job_count(chaos) == 1


def test_a_500_on_run_is_flagged_as_maybe_sent(chaos):
    chaos.faults.script("run", ["500"])
    with pytest.raises(APIStatusError) as caught:
        rp_jupyter.Endpoint(chaos.endpoint_id, base_url=chaos.base_url).run({"sleep": 0})
    assert caught.value.maybe_sent is True and caught.value.status_code == 500
    assert chaos.request_count("run") == 1
    assert JobJournal.open().list(endpoint_id=chaos.endpoint_id)[0].status == "MAYBE_ACCEPTED"


def test_a_refusal_on_run_is_not_maybe_sent():
    server = start_local("echo", workers=1, api_key="the-right-key")
    try:
        ep = rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url,
                                 api_key="a-wrong-key")
        with pytest.raises(rp_jupyter.AuthenticationError) as caught:
            ep.run({"x": 1})
        assert caught.value.maybe_sent is False
        record = JobJournal.open().list(endpoint_id=server.endpoint_id)[0]
        assert record.status == "SUBMIT_FAILED" and server_job_count(server) == 0
    finally:
        server.stop()
