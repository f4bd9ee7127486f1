"""The API key never appears in a message, a repr, a log line, a traceback or the journal."""

from __future__ import annotations

import asyncio
import logging
import pickle
import traceback

import httpx
import pytest

import rp_jupyter
from rp_jupyter.api.client import Connection
from rp_jupyter.api.errors import AuthenticationError, ServerError
from rp_jupyter.api.redact import MASK, Secret, redact
from rp_jupyter.jobs.journal import JobJournal
from tests.client_support import start_local

KEY = "rpa_SUPERSECRETKEY1234567890"


def test_a_secret_never_shows_itself():
    secret = Secret(KEY)
    assert KEY not in repr(secret) and KEY not in str(secret) and KEY not in f"{secret}"
    assert secret.reveal() == KEY
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert redact(f"key={KEY}; again {KEY}", secret) == f"key={MASK}; again {MASK}"


def test_the_key_is_absent_from_errors_reprs_logs_and_the_journal(caplog, rp_home):
    server = start_local("echo", workers=1, api_key="another-key")
    caplog.set_level(logging.DEBUG)
    try:
        ep = rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url, api_key=KEY)
        with pytest.raises(AuthenticationError) as caught:
            ep.run({"prompt": "hi"})
        error = caught.value
        shown = [str(error), repr(error), repr(ep), repr(ep.runtime.client.connection.api_key),
                 "".join(traceback.format_exception(error)),
                 repr(ep.runtime.client.connection.http._clients[0].headers)]
        shown += [record.getMessage() for record in caplog.records]
        assert all(KEY not in text for text in shown)
        JobJournal.open().flush()
        stored = b"".join(p.read_bytes() for p in rp_home.glob("journal.sqlite3*"))
        assert stored and KEY.encode() not in stored
    finally:
        server.stop()


def test_a_server_that_echoes_the_key_has_it_masked_in_the_error():
    """MockTransport: the local endpoint never echoes a key; a misbehaving proxy might."""
    def answer(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"]
        return httpx.Response(500, json={"error": f"upstream rejected {sent}"})

    connection = Connection("http://runpod.test/v2", Secret(KEY),
                            transport=httpx.MockTransport(answer))
    from rp_jupyter.api.retry import RetryPolicy

    connection.retry = RetryPolicy(max_retries=0)
    with pytest.raises(ServerError) as caught:
        asyncio.run(connection.endpoint("ep").health())
    assert KEY not in str(caught.value) and MASK in str(caught.value)
    assert KEY not in repr(caught.value.body)
