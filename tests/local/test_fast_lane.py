"""The fast lane: ``/run``, ``/runsync`` and ``/status`` answered on the connection, the
same answers as the app's, and everything it does not take handed to the app intact."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rp_jupyter.local import LocalEndpoint
from rp_jupyter.local.fast_lane import INCOMPLETE, read_head
from rp_jupyter.wire_rules import RateLimit
from tests.waiting import wait_for

PLAIN_CHAOS = "rp_jupyter.local.examples.chaos:plain"


class Raw:
    """One kept-alive HTTP/1.1 connection, written and read by hand."""

    def __init__(self, ep: LocalEndpoint) -> None:
        self.sock = socket.create_connection(("127.0.0.1", ep.server.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.prefix = f"/v2/{ep.endpoint_id}"
        self.pending = b""

    @staticmethod
    def request(method: str, path: str, body: bytes = b"", headers: str = "") -> bytes:
        return (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> tuple[int, dict[str, str], Any]:
        """The next answer on the connection: status, headers, decoded JSON body."""
        while b"\r\n\r\n" not in self.pending:
            self.pending += self._read()
        head, _, rest = self.pending.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        length = int(headers["content-length"])
        while len(rest) < length:
            rest += self._read()
        self.pending = rest[length:]
        return int(lines[0].split()[1]), headers, json.loads(rest[:length])

    def _read(self) -> bytes:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(echo: LocalEndpoint) -> Iterator[Raw]:
    conn = Raw(echo)
    yield conn
    conn.close()


def _header_names(response: httpx.Response) -> list[str]:
    return sorted(name.lower() for name in response.headers)


def test_job_routes_take_the_lane_and_answer_as_the_app_does(echo, start_endpoint):
    """The same requests to a server without the lane (h11's parser) get the same
    answers, headers included; the lane's count says it answered them."""
    without_lane = start_endpoint("echo", workers=1, rate_limits="off", http="h11")
    answers = {}
    for ep in (echo, without_lane):
        before = ep.fast_lane_requests
        with httpx.Client(base_url=ep.url, timeout=30) as client:
            sync = client.post("/runsync", json={"input": {"n": 1}})
            queued = client.post("/run", json={"input": {"n": 2}})
            job_id = queued.json()["id"]
            done = wait_for(lambda job_id=job_id: client.get(f"/status/{job_id}").json()["status"]
                            == "COMPLETED", what="the job done")
            status = client.get(f"/status/{job_id}")
        assert done
        answers[ep] = (sync, queued, status, ep.fast_lane_requests - before)
    lane, app = answers[echo], answers[without_lane]
    assert app[3] == 0 and lane[3] >= 4  # runsync, run and at least two status
    for through_lane, through_app in zip(lane[:3], app[:3], strict=True):
        assert through_lane.status_code == through_app.status_code == 200
        assert _header_names(through_lane) == _header_names(through_app) == [
            "content-length", "content-type", "date", "server"]
        assert through_lane.headers["content-type"] == "application/json"
        assert sorted(through_lane.json()) == sorted(through_app.json())
    assert lane[0].json()["output"] == {"echo": {"n": 1}}
    assert lane[2].json()["output"] == {"echo": {"n": 2}}
    assert echo.request_count("runsync", lane[0].json()["id"]) == 1


def test_pipelined_requests_of_lane_and_app_are_answered_in_order(echo, raw):
    before = echo.fast_lane_requests
    raw.send(Raw.request("POST", f"{raw.prefix}/runsync", b'{"input":{"k":"a"}}')
             + Raw.request("GET", f"{raw.prefix}/health")
             + Raw.request("POST", f"{raw.prefix}/run", b'{"input":{"k":"b"}}')
             + Raw.request("GET", f"{raw.prefix}/status/no-such-job")
             + Raw.request("POST", f"{raw.prefix}/run", b'{"input": 3}')
             + Raw.request("POST", f"{raw.prefix}/runsync", b'{"input":{"k":"c"}}'))
    code, _, sync = raw.answer()
    assert (code, sync["status"], sync["output"]) == (200, "COMPLETED", {"echo": {"k": "a"}})
    code, _, health = raw.answer()
    assert code == 200 and "jobs" in health and "workers" in health
    code, _, queued = raw.answer()
    assert code == 200 and queued["status"] == "IN_QUEUE"
    code, _, missing = raw.answer()
    assert code == 404 and missing == {"error": "job not found"}
    code, _, bad = raw.answer()
    assert code == 400 and "\"input\" must be a JSON object" in bad["detail"]
    code, _, last = raw.answer()
    assert (code, last["output"]) == (200, {"echo": {"k": "c"}})
    # the lane took the first; what was written behind the app's went to the app whole
    assert echo.fast_lane_requests - before == 1
    raw.send(Raw.request("POST", f"{raw.prefix}/runsync", b'{"input":{"k":"d"}}'))
    code, _, again = raw.answer()
    assert (code, again["output"]) == (200, {"echo": {"k": "d"}})
    assert echo.fast_lane_requests - before == 2  # the lane again, once the app was done


def test_a_request_written_in_pieces_is_answered_whole(echo, raw):
    body = json.dumps({"input": {"text": "x" * 300}}).encode()
    whole = Raw.request("POST", f"{raw.prefix}/runsync", body)
    for start, end in ((0, 3), (3, 30), (30, len(whole) - 100), (len(whole) - 100, None)):
        raw.send(whole[start:end])
    code, _, doc = raw.answer()
    assert code == 200 and doc["output"] == {"echo": {"text": "x" * 300}}


def test_a_large_body_is_read_whole(echo, client):
    text = "y" * 600_000
    doc = client.post(f"{echo.url}/runsync", json={"input": {"text": text}}).json()
    assert doc["status"] == "COMPLETED" and doc["output"]["echo"]["text"] == text


def test_a_key_a_fault_and_the_rate_limit_are_the_apps_to_answer(start_endpoint):
    ep = start_endpoint("echo", workers=1, api_key="sekret",
                        rate_limits={"run": RateLimit(2, 60.0, None)})
    with httpx.Client(base_url=ep.url, timeout=30) as client:
        right = {"Authorization": "Bearer sekret"}
        assert client.post("/run", json={"input": {}}, headers=right).status_code == 200
        assert ep.fast_lane_requests == 1
        wrong = client.post("/run", json={"input": {}}, headers={"Authorization": "nope"})
        assert wrong.status_code == 401 and wrong.json() == {"error": "invalid API key"}
        ep.faults.script("run", ["503"])
        injected = client.post("/run", json={"input": {}}, headers=right)
        assert injected.status_code == 503
        assert client.post("/run", json={"input": {}}, headers=right).status_code == 200
        limited = client.post("/run", json={"input": {}}, headers=right)
        assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert ep.fast_lane_requests == 2
    assert ep.request_count("run") == 5  # every request counted, whoever answered it


def test_a_runsync_whose_client_hangs_up_ends_and_its_job_goes_on(start_endpoint):
    ep = start_endpoint(PLAIN_CHAOS, workers=1, rate_limits="off")
    conn = Raw(ep)
    conn.send(Raw.request("POST", f"{conn.prefix}/runsync", b'{"input":{"sleep":0.5}}'))
    wait_for(lambda: ep.in_flight("runsync") == 1, what="the runsync held")
    conn.close()
    wait_for(lambda: ep.in_flight("runsync") == 0, what="the held runsync ended")
    job_id = ep.request_log[-1]["job_id"]
    assert job_id and ep.fast_lane_requests == 1
    assert wait_for(lambda: (ep.job_record(job_id) or {}).get("status") == "COMPLETED",
                    what="the job done")


def test_a_runsync_past_its_wait_answers_the_job_as_it_is(start_endpoint):
    ep = start_endpoint(PLAIN_CHAOS, workers=1, rate_limits="off")
    conn = Raw(ep)
    try:
        conn.send(Raw.request("POST", f"{conn.prefix}/runsync?wait=1000",
                              b'{"input":{"sleep":3}}'))
        code, _, doc = conn.answer()
        assert code == 200 and doc["status"] == "IN_PROGRESS" and "output" not in doc
        conn.send(Raw.request("GET", f"{conn.prefix}/status/{doc['id']}"))
        code, _, again = conn.answer()
        assert code == 200 and again["id"] == doc["id"]
    finally:
        conn.close()
    assert ep.fast_lane_requests == 2


def test_stopping_the_server_answers_a_held_runsync(start_endpoint):
    ep = start_endpoint(PLAIN_CHAOS, workers=1, rate_limits="off")
    conn = Raw(ep)
    try:
        conn.send(Raw.request("POST", f"{conn.prefix}/runsync", b'{"input":{"sleep":30}}'))
        wait_for(lambda: ep.in_flight("runsync") == 1, what="the runsync held")
        stopping = threading.Thread(target=ep.stop)
        stopping.start()
        code, _, doc = conn.answer()
        stopping.join(30)
    finally:
        conn.close()
    assert code == 200 and doc["status"] in ("IN_QUEUE", "IN_PROGRESS")


# -- reading a head ---------------------------------------------------------------------

HEAD = (b"POST /v2/ep-1/runsync?wait=2000 HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer k\r\nContent-Length: 12\r\n\r\n")


def test_a_head_is_read_once_it_has_all_arrived():
    for end in range(len(HEAD)):
        assert read_head(HEAD[:end], 8192, 100) is INCOMPLETE, HEAD[:end]
    request = read_head(bytearray(HEAD + b'{"input":{}}'), 8192, 100)
    assert request is not INCOMPLETE and request is not None
    assert (request.method, request.endpoint_id, request.op, request.job_id) == (
        "POST", "ep-1", "runsync", None)
    assert (request.query, request.authorization, request.length) == (
        b"wait=2000", b"Bearer k", 12)
    assert request.end == len(HEAD) + 12
    status = read_head(b"GET /v2/ep/status/job-9 HTTP/1.1\r\n\r\n", 8192, 100)
    assert status is not None and (status.op, status.job_id, status.length) == (
        "status", "job-9", 0)


@pytest.mark.parametrize("head", [
    b"POST /v2/ep/run HTTP/1.0\r\n\r\n",
    b"POST /v2/ep/run HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /v2/ep/run HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
    b"POST /v2/ep/run HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"POST /v2/ep/run HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
    b"POST /v2/ep/run HTTP/1.1\r\nContent-Length: -2\r\n\r\n",
    b"POST /v2/ep/run HTTP/1.1\r\nContent-Length : 2\r\n\r\n",
    b"POST /v2/ep/run HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
    b"POST /v2/ep/run HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    b"POST /v2/ep/run HTTP/1.1\nHost: x\r\n\r\n",
    b"POST /v2/e%70/run HTTP/1.1\r\n\r\n",
    b"POST /v2/ep/run/ HTTP/1.1\r\n\r\n",
    b"POST /v2//run HTTP/1.1\r\n\r\n",
    b"POST /v2/ep/health HTTP/1.1\r\n\r\n",
    b"POST /v2/ep/status HTTP/1.1\r\n\r\n",
    b"PUT /v2/ep/run HTTP/1.1\r\n\r\n",
    b"GET /_local/endpoints HTTP/1.1\r\n\r\n",
    b"POST /v2/ep/run HTTP/1.1\r\n" + b"X: 1\r\n" * 101 + b"\r\n",
    "POST /v2/ép/run HTTP/1.1\r\n\r\n".encode(),
])
def test_a_head_the_lane_leaves_to_the_app(head):
    assert read_head(head, 8192, 100) is None


def test_a_head_over_the_size_limit_is_the_apps():
    long_head = b"POST /v2/ep/run HTTP/1.1\r\nX: " + b"a" * 9000
    assert read_head(long_head, 8192, 100) is None
    assert read_head(long_head + b"\r\n\r\n", 8192, 100) is None
    assert read_head(b"DELETE /v2/ep/run", 8192, 100) is None


def test_every_answer_the_lane_wrote_is_counted_as_answered(echo, raw):
    before = echo.request_count("run")
    for n in range(5):
        raw.send(Raw.request("POST", f"{raw.prefix}/run", b'{"input":{"n":%d}}' % n))
        code, _, doc = raw.answer()
        assert code == 200 and re.fullmatch(r"[0-9a-f-]{36}-u1", doc["id"])
    assert echo.request_count("run") - before == 5
    assert echo.in_flight("run") == 0
