"""Fuzzing the local endpoint with raw HTTP requests over sockets, with each HTTP parser:
never a 5xx, never a hang, never a failure in the server's log, and it keeps serving."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, settings

from rp_jupyter.local import LocalEndpoint
from tests.fuzz.strategies import KEY, http_requests
from tests.fuzz.tally import count, examples

ANSWER_TIMEOUT = 15.0


class _Failures(logging.Handler):
    """Collects what the server logs at ERROR (an exception in the application)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module", params=["h11", "httptools"])
def server(request) -> Iterator[LocalEndpoint]:
    failures = _Failures()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(failures)
    try:
        with LocalEndpoint("echo", workers=1, api_key=KEY, rate_limits="off",
                           http=request.param) as ep:
            ep.wait_ready(30)
            ep.failures = failures  # type: ignore[attr-defined]
            yield ep
    finally:
        logger.removeHandler(failures)


def send(port: int, data: bytes, complete: bool) -> tuple[int | None, bytes]:
    """Send a raw request; the answer's status (None if the server closed without one) and
    the whole answer.  After an incomplete request the client says it is done sending (the
    server may otherwise rightly wait for the rest)."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT) as sock:
        try:
            sock.sendall(data)
            if not complete:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed already: read what it said
        received = b""
        try:
            while not _complete(received):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
    if not received:
        return None, b""
    return int(received.split(b" ", 2)[1]), received


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


@settings(max_examples=examples(120))
@given(request=http_requests())
def test_no_raw_request_gets_a_5xx_or_stops_the_server(server, request):
    data, complete = request
    status, answer = send(server.server.port, data, complete)
    with httpx.Client(timeout=ANSWER_TIMEOUT) as client:
        health = client.get(f"{server.url}/health", headers={"Authorization": KEY})
    failures = len(server.failures.records)
    shown_key = KEY.encode() in answer
    count(f"raw HTTP ({server.server.http_kind})", examples=1,
          **{f"answered_{status // 100}xx" if status else "closed_without_answer": 1},
          server_5xx=status is not None and status >= 500, server_failures=failures,
          secrets_shown=shown_key)
    assert status is None or status < 500, (status, data[:300])
    assert not shown_key
    assert failures == 0, server.failures.records[0].getMessage()
    assert health.status_code == 200
