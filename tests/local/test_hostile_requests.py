"""Hostile HTTP requests to the local endpoint, with either HTTP parser uvicorn may pick:
limits are answered early (431, 413, 400), never with a 5xx, an unknown endpoint answers
like a wrong key, and the server keeps serving after each (issue 13, local endpoint)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from rp_jupyter.local import LocalEndpoint
from rp_jupyter.local.endpoint_settings import MAX_HEADER_BYTES

KEY = "hostile-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module", params=["h11", "httptools"])
def keyed(request) -> Iterator[LocalEndpoint]:
    with LocalEndpoint("echo", workers=1, api_key=KEY, rate_limits="off",
                       http=request.param) as ep:
        ep.wait_ready(30)
        yield ep


@pytest.fixture
def ep(keyed) -> Iterator[LocalEndpoint]:
    yield keyed
    # whatever the test sent, the server still serves a real job
    with httpx.Client(timeout=30, headers=AUTH) as client:
        doc = client.post(f"{keyed.url}/runsync", json={"input": {"still": "up"}}).json()
    assert doc["output"] == {"echo": {"still": "up"}}


def exchange(ep: LocalEndpoint, data: bytes, timeout: float = 20.0) -> tuple[int, dict, bytes]:
    """Send raw bytes; return the answer's status, headers and body."""
    with socket.create_connection(("127.0.0.1", ep.server.port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {raw!r}"
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the answer"
        body += chunk
    return int(status_line.split()[1]), headers, body


def request(path: str, *headers: str, method: str = "GET", body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def test_a_header_over_the_limit_is_answered_431_before_the_key_is_checked(ep):
    status, _, body = exchange(ep, request("/v2/local/health", "X-Big: " + "a" * 100_000))
    assert status == 431
    assert "too large" in json.loads(body)["error"]


def test_two_thousand_headers_are_answered_431(ep):
    many = [f"X-H{i}: v" for i in range(2000)]
    status, _, body = exchange(ep, request("/v2/local/health", *many))
    assert status == 431 and "2001 headers, at most 100" in json.loads(body)["error"]


def test_headers_just_under_the_limits_are_served(ep):
    padding = "X-Pad: " + "p" * (MAX_HEADER_BYTES - 2000)
    status, _, _ = exchange(ep, request("/v2/local/health", f"Authorization: {KEY}", padding,
                                        *[f"X-H{i}: v" for i in range(90)]))
    assert status == 200


def test_a_huge_header_is_refused_after_its_first_mebibyte(ep):
    """The client stops after 1 MiB of a header meant to be 64 MiB: the 431 is already
    there, so the server did not wait for (or keep) the rest."""
    with socket.create_connection(("127.0.0.1", ep.server.port), timeout=20) as sock:
        sock.sendall(b"GET /v2/local/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        for _ in range(16):
            try:
                sock.sendall(b"b" * 65536)
            except OSError:
                break  # the server has already answered and closed
        status, headers, _ = read_answer(sock)
    assert status == 431 and headers["connection"] == "close"


def test_a_declared_content_length_over_the_limit_is_answered_413_at_once(ep):
    """Nothing of the announced 931 GiB is ever sent: the answer comes without waiting."""
    status, _, body = exchange(ep, request("/v2/local/run", f"Authorization: {KEY}",
                                           "Content-Length: 999999999999", method="POST"))
    assert status == 413
    assert json.loads(body)["detail"] == "bad request: body: exceeded max body size of 10MiB"


def test_a_chunked_body_that_passes_the_limit_is_answered_413_without_reading_it_all(ep):
    ep.settings.max_run_body = 1000
    try:
        with socket.create_connection(("127.0.0.1", ep.server.port), timeout=20) as sock:
            sock.sendall(b"POST /v2/local/run HTTP/1.1\r\nHost: x\r\nAuthorization: "
                         + KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + b"800\r\n" + b"x" * 2048 + b"\r\n")  # more to come, never sent
            status, _, _ = read_answer(sock)
    finally:
        ep.settings.max_run_body = 10 * 1024 * 1024
    assert status == 413


@pytest.mark.parametrize("path", ["/v2/local/run", "/v2/local/runsync"])
def test_json_nested_ten_thousand_deep_is_a_400_not_a_500(ep, path):
    body = b'{"input": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    status, _, answer = exchange(ep, request(path, f"Authorization: {KEY}", method="POST",
                                             body=body))
    assert status == 400
    assert "nested more than 100 levels" in json.loads(answer)["detail"]


def test_deep_json_to_the_admin_and_worker_routes_is_a_400_too(ep):
    deep = b"[" * 10_000 + b"]" * 10_000
    for path in ("/_local/faults/local", "/v2/local/job-done/w1/j1"):
        status, _, _ = exchange(ep, request(path, f"Authorization: {KEY}", method="POST",
                                            body=deep))
        assert status == 400, path


@pytest.mark.parametrize("wait", ["nan", "NaN", "inf", "-inf", "1e400"])
def test_a_wait_that_is_not_a_number_of_milliseconds_is_never_a_500(ep, wait):
    with httpx.Client(timeout=30, headers=AUTH) as client:
        response = client.get(f"{ep.url}/status-sync/nope", params={"wait": wait})
    assert response.status_code in (400, 404)


def strip_date(headers: dict) -> dict:
    return {k: v for k, v in headers.items() if k != "date"}


@pytest.mark.parametrize("auth", [(), ("Authorization: Bearer wrong",)])
@pytest.mark.parametrize("path", ["/v2/{id}/health", "/v2/{id}/status/abc",
                                  "/v2/{id}/no-such-route", "/v2/{id}/status"])
def test_an_unknown_endpoint_answers_exactly_like_a_wrong_key(ep, auth, path):
    known = exchange(ep, request(path.format(id="local"), *auth))
    unknown = exchange(ep, request(path.format(id="nope"), *auth))
    assert known[0] == unknown[0] == 401
    assert known[2] == unknown[2]
    assert strip_date(known[1]) == strip_date(unknown[1])


def test_with_the_right_key_an_unknown_endpoint_is_a_404(ep):
    status, _, body = exchange(ep, request("/v2/nope/health", f"Authorization: {KEY}"))
    assert status == 404 and json.loads(body) == {"error": "endpoint not found"}


def test_the_admin_view_does_not_tell_unknown_endpoints_apart_either(ep):
    known = exchange(ep, request("/_local/stats?endpoint=local"))
    unknown = exchange(ep, request("/_local/stats?endpoint=nope"))
    assert known[0] == unknown[0] == 401 and known[2] == unknown[2]


def test_the_parser_can_be_chosen_and_is_the_one_serving(keyed):
    with httpx.Client(timeout=30, headers=AUTH) as client:  # a connection kept open
        assert client.get(f"{keyed.url}/health").status_code == 200
        protocol = type(next(iter(keyed.server._uvicorn.server_state.connections)))
    expected = {"h11": "LimitedH11Protocol", "httptools": "LimitedHttpToolsProtocol"}
    assert protocol.__name__ == expected[keyed.server.http_kind]
