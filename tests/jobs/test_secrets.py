"""Every secret the user gives stays a secret: ``rp_jupyter.Secret`` input values, the S3
credentials and the API key reach only their endpoint, and are masked in reprs, errors
(also when a server echoes them back), log lines, the journal and its export (issue 13)."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import rp_jupyter
from rp_jupyter import Secret
from rp_jupyter.api.redact import MASK
from rp_jupyter.jobs.journal import JobJournal
from tests.client_support import start_local

TOKEN = "hf_TOKENvalue-0123456789"
S3 = {"accessId": "AKIA-ACCESS-ID-42", "accessSecret": "s3-SECRET-KEY-42",
      "bucketName": "bucket", "endpointUrl": "https://s3.example.com"}
API_KEY = "rpa_APIKEY0123456789"
ALL_SECRETS = (TOKEN, S3["accessId"], S3["accessSecret"], API_KEY)


def journal_bytes() -> bytes:
    journal = JobJournal.open()
    journal.flush()
    return b"".join(p.read_bytes() for p in journal.path.parent.glob("journal.sqlite3*"))


def journal_rows() -> str:
    """Every column of the jobs and events tables, as text."""
    conn = sqlite3.connect(JobJournal.open().path)
    try:
        rows = conn.execute("SELECT * FROM jobs").fetchall()
        rows += conn.execute("SELECT * FROM events").fetchall()
    finally:
        conn.close()
    return json.dumps(rows, default=str)


def exported() -> str:
    out = io.StringIO()
    JobJournal.open().export_jsonl(out)
    return out.getvalue()


def assert_nowhere(*texts: str | bytes) -> None:
    for text in texts:
        for secret in ALL_SECRETS:
            needle = secret.encode() if isinstance(text, bytes) else secret
            assert needle not in text, f"{secret} leaked"


@pytest.fixture(scope="module")
def echo_server():
    server = start_local("echo", workers=1, api_key=API_KEY)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chaos_server():
    server = start_local("chaos", workers=1, api_key=API_KEY)
    yield server
    server.stop()


def test_a_requests_repr_shows_no_s3_credential():
    from rp_jupyter.api.request import build_request

    request = build_request({"token": Secret(TOKEN)}, s3_config=S3)
    shown = repr(request) + repr(request.body) + str(request.redacted)
    assert_nowhere(shown)
    assert shown.count(MASK) >= 3
    assert json.loads(request.encoded)["s3Config"] == S3  # sent as given


def test_secret_input_values_reach_only_their_endpoint(echo_server, caplog):
    caplog.set_level(logging.DEBUG)
    ep = rp_jupyter.Endpoint(echo_server.endpoint_id, base_url=echo_server.base_url,
                             api_key=API_KEY)
    job = ep.run({"prompt": "hi", "token": Secret(TOKEN)}, s3_config=S3)
    output = job.result(timeout=30)
    received = echo_server.job_record(job.id)["input"]
    assert received == {"prompt": "hi", "token": TOKEN}  # the endpoint got the value
    assert output == {"echo": {"prompt": "hi", "token": MASK}}  # its echo is masked
    assert job.input == {"prompt": "hi", "token": MASK}
    shown = [repr(job), repr(job.request), str(job.input), str(job.output), repr(ep),
             *(record.getMessage() for record in caplog.records)]
    assert_nowhere(*shown, journal_bytes(), exported(), journal_rows())


def test_a_secret_a_failing_handler_echoes_is_masked_in_errors_and_the_journal(chaos_server):
    ep = rp_jupyter.Endpoint(chaos_server.endpoint_id, base_url=chaos_server.base_url,
                             api_key=API_KEY)
    job = ep.run({"fail": Secret(TOKEN)})
    with pytest.raises(rp_jupyter.JobFailedError) as caught:
        job.result(timeout=30)
    error = caught.value
    assert error.error_message.endswith(MASK)  # the handler raised RuntimeError(token)
    assert_nowhere(str(error), repr(error), str(error.details),
                   "".join(traceback.format_exception(error)), str(job.error))
    record = JobJournal.open().find(job.id)
    assert MASK in json.dumps(record.error)
    assert_nowhere(journal_bytes(), exported(), journal_rows())


class _EchoingServer(BaseHTTPRequestHandler):
    """A misbehaving server: its 400 quotes the request body and the key it was sent."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        detail = f"cannot use {body} with {self.headers.get('Authorization')}"
        data = json.dumps({"status": 400, "title": "Bad Request", "detail": detail}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v2"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_secrets_a_server_echoes_in_an_error_body_are_masked(echoing_server, caplog):
    caplog.set_level(logging.DEBUG)
    ep = rp_jupyter.Endpoint("ep", base_url=echoing_server, api_key=API_KEY)
    with pytest.raises(rp_jupyter.BadRequestError) as caught:
        ep.run({"token": Secret(TOKEN)}, s3_config=S3)
    error = caught.value
    assert MASK in str(error)
    assert_nowhere(str(error), repr(error), json.dumps(error.body),
                   *(record.getMessage() for record in caplog.records))
    (record,) = JobJournal.open().list()
    assert record.status == "SUBMIT_FAILED" and MASK in record.error
    assert_nowhere(journal_bytes(), exported(), journal_rows())


def test_input_reuse_tells_secrets_apart_by_a_hash(echo_server):
    ep = rp_jupyter.Endpoint(echo_server.endpoint_id, base_url=echo_server.base_url,
                             api_key=API_KEY)
    echo_server.reset_stats()
    first = ep.run({"token": Secret(TOKEN)}, cache="use")
    first.result(timeout=30)
    again = ep.run({"token": Secret(TOKEN)}, cache="use")
    other = ep.run({"token": Secret(TOKEN + "-other")}, cache="use")
    other.result(timeout=30)
    assert again.cached and not other.cached
    assert echo_server.request_count(op="run") == 2
    assert_nowhere(journal_bytes())


def test_a_job_sent_with_secrets_cannot_be_rerun_from_the_journal_alone(echo_server):
    ep = rp_jupyter.Endpoint(echo_server.endpoint_id, base_url=echo_server.base_url,
                             api_key=API_KEY)
    job = ep.run({"token": Secret(TOKEN)})
    job.result(timeout=30)
    from rp_jupyter.jobs.runtime import job_from_record

    stored = job_from_record(JobJournal.open().find(job.id), ep.runtime)
    with pytest.raises(rp_jupyter.InvalidRequestError, match="never kept"):
        stored.rerun()
    assert job.rerun().result(timeout=30) == {"echo": {"token": MASK}}  # in memory: fine
