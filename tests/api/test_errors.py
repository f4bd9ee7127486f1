"""Each HTTP failure reaches the caller as its own error class, with the server's message."""

from __future__ import annotations

import socket

import pytest

import rp_jupyter
from rp_jupyter.api import client as client_module
from rp_jupyter.api.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    EndpointNotFoundError,
    JobNotFoundError,
    NotFoundError,
    RateLimitError,
    RunpodError,
    ServerError,
)
from tests.client_support import start_local, statuses


def endpoint(server, **options) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url, **options)


def test_a_body_the_server_refuses_raises_bad_request_with_its_detail(chaos):
    chaos.settings.max_run_body = 64
    try:
        with pytest.raises(BadRequestError) as caught:
            endpoint(chaos).run({"padding": "x" * 200})
    finally:
        chaos.settings.max_run_body = 10 * 1024 * 1024
    assert caught.value.status_code == 413
    assert "exceeded max body size" in str(caught.value)
    assert statuses(chaos, "run") == [413]  # a 413 is never retried


@pytest.fixture(scope="module")
def keyed_server():
    server = start_local("echo", workers=1, api_key="the-right-key")
    yield server
    server.stop()


@pytest.mark.parametrize("key", ["a-wrong-key", None])
def test_a_missing_or_wrong_key_raises_authentication_error(keyed_server, key):
    with pytest.raises(AuthenticationError) as caught:
        endpoint(keyed_server, api_key=key).health()
    assert caught.value.status_code == 401
    assert "API key" in str(caught.value) and "RUNPOD_API_KEY" in caught.value.hint


def test_the_right_key_from_the_environment_is_sent(keyed_server, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "the-right-key")
    monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", keyed_server.base_url)
    ep = rp_jupyter.Endpoint(keyed_server.endpoint_id)
    assert ep.base_url == keyed_server.base_url
    assert ep.run_sync({"k": 1}).result() == {"echo": {"k": 1}}


def test_the_hosted_api_without_a_key_fails_before_any_request():
    with pytest.raises(AuthenticationError, match="no Runpod API key"):
        rp_jupyter.Endpoint("abc").health()


def test_an_unknown_endpoint_raises_endpoint_not_found(chaos):
    ep = rp_jupyter.Endpoint("no-such-endpoint", base_url=chaos.base_url)
    with pytest.raises(EndpointNotFoundError) as caught:
        ep.health()
    assert "'no-such-endpoint'" in str(caught.value)
    with pytest.raises(EndpointNotFoundError):  # a job route says "endpoint", not "job"
        ep.job("some-job")


def test_an_unknown_job_raises_job_not_found_naming_the_journal(chaos):
    with pytest.raises(JobNotFoundError) as caught:
        endpoint(chaos).job("never-was")
    assert isinstance(caught.value, NotFoundError)
    assert "never-was" in str(caught.value) and "rp_jupyter.result" in caught.value.hint


def test_429_after_every_retry_raises_rate_limited_with_retry_after(chaos):
    chaos.faults.retry_after = 0.02
    chaos.faults.script("health", ["429"] * 3)
    with pytest.raises(RateLimitError) as caught:
        endpoint(chaos, max_retries=2).health()
    assert caught.value.retry_after == pytest.approx(0.02)
    assert statuses(chaos, "health") == [429, 429, 429]


def test_5xx_after_every_retry_raises_server_error(chaos):
    chaos.faults.script("health", ["500", "503", "500"])
    with pytest.raises(ServerError) as caught:
        endpoint(chaos, max_retries=2).health()
    assert caught.value.status_code == 500 and "injected fault" in str(caught.value)
    assert statuses(chaos, "health") == [500, 503, 500]


def test_a_refused_connection_raises_connection_error_after_retrying():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    ep = rp_jupyter.Endpoint("x", base_url=f"http://127.0.0.1:{port}/v2", max_retries=1)
    with pytest.raises(APIConnectionError) as caught:
        ep.run({"a": 1})
    assert not isinstance(caught.value, APITimeoutError)
    assert caught.value.maybe_sent is False and f":{port}" in str(caught.value)
    assert ep.runtime.client.connection.sent["run"] == 2  # the first try and one retry


def test_no_answer_in_time_raises_timeout(chaos, monkeypatch):
    monkeypatch.setattr(client_module, "READ_TIMEOUT", 0.2)
    chaos.faults.latency = 1.0
    chaos.faults.ops = ["health"]
    with pytest.raises(APITimeoutError) as caught:
        endpoint(chaos, max_retries=0).health()
    assert isinstance(caught.value, APIConnectionError) and caught.value.maybe_sent


def test_every_error_is_a_runpod_error():
    for cls in (BadRequestError, AuthenticationError, EndpointNotFoundError, JobNotFoundError,
                RateLimitError, ServerError):
        assert issubclass(cls, APIStatusError) and issubclass(cls, RunpodError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APIConnectionError, RunpodError)
