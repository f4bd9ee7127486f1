"""Webhooks: the final status document is POSTed, with retries on failure."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.local.conftest import FAST_POLICY, submit, wait_for, wait_status


class Receiver:
    """A loopback webhook receiver answering the given status codes in turn (then 200)."""

    def __init__(self, codes: list[int] | None = None) -> None:
        self.codes = list(codes or [])
        self.calls: list[tuple[float, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((time.monotonic(), json.loads(body)))
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(codes: list[int] | None = None) -> Receiver:
        made.append(Receiver(codes))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_the_webhook_gets_the_final_status_document(start_endpoint, client, receiver):
    ep = start_endpoint("echo")
    hook = receiver()
    job_id = submit(client, ep, {"w": 1}, webhook=hook.url)
    doc = wait_status(client, ep, job_id, "COMPLETED")
    wait_for(lambda: hook.calls, what="the webhook")
    assert hook.calls[0][1] == doc
    assert len(hook.calls) == 1


def test_a_failing_receiver_gets_two_more_tries(start_endpoint, client, receiver):
    ep = start_endpoint("echo", webhook_retry_delay=0.2)
    hook = receiver([500, 503])
    job_id = submit(client, ep, {}, webhook=hook.url)
    wait_for(lambda: len(ep.job_record(job_id)["webhook_attempts"]) == 3,
             what="three webhook attempts")
    attempts = ep.job_record(job_id)["webhook_attempts"]
    assert [a["status_code"] for a in attempts] == [500, 503, 200]
    assert len(hook.calls) == 3
    sent = [a["t"] for a in attempts]
    assert sent[1] - sent[0] >= 0.19 and sent[2] - sent[1] >= 0.19


def test_webhook_retries_stop_after_the_configured_number(start_endpoint, client, receiver):
    ep = start_endpoint("echo", webhook_retry_delay=0.05, webhook_retries=1)
    hook = receiver([500, 500, 500, 500])
    job_id = submit(client, ep, {}, webhook=hook.url)
    wait_for(lambda: len(ep.job_record(job_id)["webhook_attempts"]) == 2,
             what="two attempts")
    probe = submit(client, ep, {}, webhook=hook.url)
    wait_for(lambda: len(ep.job_record(probe)["webhook_attempts"]) == 2,
             what="the probe's attempts")
    assert sum(1 for _, body in hook.calls if body["id"] == job_id) == 2


def test_an_unreachable_receiver_is_logged_as_an_error(start_endpoint, client):
    ep = start_endpoint("echo", webhook_retries=0)
    job_id = submit(client, ep, {}, webhook="http://127.0.0.1:9/nothing-listens")
    wait_for(lambda: ep.job_record(job_id)["webhook_attempts"], what="the attempt")
    assert "error" in ep.job_record(job_id)["webhook_attempts"][0]


@pytest.mark.parametrize("final", ["CANCELLED", "FAILED", "TIMED_OUT"])
def test_webhooks_are_sent_for_every_final_state(start_endpoint, client, receiver, final):
    ep = start_endpoint("chaos", workers=0 if final == "TIMED_OUT" else 1,
                        ready=final != "TIMED_OUT", **FAST_POLICY)
    hook = receiver()
    job_input = {"fail": "x"} if final == "FAILED" else {"sleep": 30}
    extra = {"policy": {"ttl": 100}} if final == "TIMED_OUT" else {}
    job_id = submit(client, ep, job_input, webhook=hook.url, **extra)
    if final == "CANCELLED":
        client.post(f"{ep.url}/cancel/{job_id}")
    wait_for(lambda: hook.calls, what="the webhook")
    assert hook.calls[0][1]["id"] == job_id and hook.calls[0][1]["status"] == final
