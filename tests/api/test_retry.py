"""429, 5xx and dropped connections are retried with backoff, honouring Retry-After; a /run
is retried only where the server cannot have accepted it, so no job is submitted twice."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

import rp_jupyter
from rp_jupyter.api.errors import APIConnectionError, ServerError
from rp_jupyter.api.retry import RetryPolicy, parse_retry_after
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.local import LocalEndpoint
from tests.client_support import server_job_count, statuses, wait_for


def endpoint(server, **options) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url, **options)


@pytest.mark.parametrize(("op", "code", "retried"), [
    ("run", 429, True), ("run", 503, True), ("run", 500, False), ("run", 502, False),
    ("runsync", 429, True), ("runsync", 500, False), ("retry", 504, False),
    ("status", 500, True), ("stream", 502, False), ("stream", 503, True),
    ("cancel", 504, True), ("health", 429, True),
    ("status", 404, False), ("run", 400, False),
])
def test_which_answers_are_retried(op, code, retried):
    assert RetryPolicy().should_retry_status(op, code) is retried


def test_a_connection_that_was_never_made_is_retried_for_every_operation():
    refused = httpx.ConnectError("refused")
    dropped = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    read_timeout = httpx.ReadTimeout("slow")
    policy = RetryPolicy()
    assert policy.should_retry_exception("run", refused)
    assert policy.should_retry_exception("run", httpx.PoolTimeout("pool"))
    assert not policy.should_retry_exception("run", dropped)
    assert not policy.should_retry_exception("run", read_timeout)
    assert not policy.should_retry_exception("runsync", read_timeout)
    assert policy.should_retry_exception("status", dropped)
    assert policy.should_retry_exception("stream", refused)
    # /stream hands each chunk out once: an answer lost on the way may have held some
    assert not policy.should_retry_exception("stream", read_timeout)
    assert not policy.should_retry_exception("stream", dropped)


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    policy = RetryPolicy(initial_delay=0.2, max_delay=2.0)
    for attempt, ceiling in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 2.0), (9, 2.0)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


def test_retry_after_is_honoured_and_capped():
    policy = RetryPolicy(max_retry_after=5.0)
    assert policy.delay(1, retry_after=1.5) == 1.5
    assert policy.delay(1, retry_after=120) == 5.0
    assert parse_retry_after(httpx.Headers({"Retry-After": "3"})) == 3.0
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < parse_retry_after(httpx.Headers({"Retry-After": future})) <= 30
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert parse_retry_after(httpx.Headers()) is None


def test_run_is_retried_after_429_and_503_and_submits_one_job(chaos):
    chaos.faults.script("run", ["429", "503", "429"])
    job = endpoint(chaos).run({"sleep": 0})
    assert job.result(timeout=20)[-1]["done"] is True
    assert statuses(chaos, "run") == [429, 503, 429, 200]
    assert server_job_count(chaos) == 1


def test_run_waits_as_long_as_retry_after_says(chaos):
    chaos.faults.retry_after = 0.4
    chaos.faults.script("run", ["429"])
    started = time.monotonic()
    endpoint(chaos).run({"sleep": 0})
    assert 0.4 <= time.monotonic() - started < 2.0


@pytest.mark.parametrize("fault", ["drop", "drop_after"])
def test_run_is_not_resent_after_a_dropped_connection(chaos, fault):
    chaos.faults.script("run", [fault])
    with pytest.raises(APIConnectionError) as caught:
        endpoint(chaos).run({"sleep": 0})
    assert caught.value.maybe_sent is True
    assert "not sent again" in caught.value.hint
    assert chaos.request_count("run") == 1
    assert server_job_count(chaos) == (1 if fault == "drop_after" else 0)
    record = JobJournal.open().list(endpoint_id=chaos.endpoint_id)[0]
    assert record.status == "MAYBE_ACCEPTED" and record.job_id is None and record.final
    assert "may have been accepted" in record.note


def test_run_is_not_resent_after_a_read_timeout(chaos, monkeypatch):
    from rp_jupyter.api import client as client_module

    monkeypatch.setattr(client_module, "READ_TIMEOUT", 0.3)
    chaos.faults.latency = 1.0
    chaos.faults.ops = ["run"]
    with pytest.raises(APIConnectionError) as caught:
        endpoint(chaos).run({"sleep": 0})
    assert caught.value.maybe_sent is True
    assert chaos.request_count("run") == 1  # retries happen before the error is raised


def test_run_is_not_resent_after_a_500(chaos):
    chaos.faults.script("run", ["500"])
    with pytest.raises(ServerError):
        endpoint(chaos).run({"sleep": 0})
    assert chaos.request_count("run") == 1


def test_runsync_is_not_resent_after_a_dropped_connection(chaos):
    chaos.faults.script("runsync", ["drop_after"])
    with pytest.raises(APIConnectionError):
        endpoint(chaos).run_sync({"sleep": 0})
    assert chaos.request_count("runsync") == 1


def test_status_is_retried_after_drops_and_server_errors_and_a_lost_stream_is_a_gap(chaos):
    chaos.faults.script("stream", ["drop", "500", "503"])
    chaos.faults.script("status", ["drop", "500"])
    job = endpoint(chaos).run({"chunks": 3})
    with pytest.warns(rp_jupyter.StreamGapWarning, match="may be missing chunks"):
        assert job.result(timeout=20)[:3] == [{"chunk": 0}, {"chunk": 1}, {"chunk": 2}]
    assert job.tracking_error is None
    assert statuses(chaos, "status")[:3] == [None, 500, 200]
    # a dropped /stream or a 500 may have handed chunks out: never sent again unseen, the
    # job says its stream may have a gap; a 503 did not reach the stream, so it is retried
    assert statuses(chaos, "stream")[:4] == [None, 500, 503, 200]
    assert job.stream_complete is False


def test_run_is_retried_while_the_server_refuses_connections():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ep = rp_jupyter.Endpoint("late", base_url=f"http://127.0.0.1:{port}/v2")
    outcome: dict[str, object] = {}
    thread = threading.Thread(target=lambda: outcome.update(job=ep.run({"sleep": 0})))
    thread.start()
    connection = wait_for(lambda: ep._runtime and ep._runtime.client.connection,
                          what="the client to start")
    wait_for(lambda: connection.retried >= 1, what="a refused connection to be retried")
    server = LocalEndpoint("chaos", endpoint_id="late", port=port, workers=1).start()
    try:
        thread.join(30)
        job = outcome["job"]
        assert job.result(timeout=20)[-1]["done"] is True
        assert server.request_count("run") == 1
    finally:
        server.stop()
