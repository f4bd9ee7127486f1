"""The key goes only where it belongs: a process adopting unfinished jobs from the journal
gives the environment's ``RUNPOD_API_KEY`` to the hosted API and the configured base URL,
never to another host such as a loopback port another process holds by now."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.jobs.key_scope import env_key_for, key_belongs_to
from tests.client_support import ROOT, spawn_python, start_local, wait_for

HOSTED_KEY = "rpa_HOSTED_0123456789abcdef"

SUBMIT_THEN_HANG = """
    import json, sys, time
    import rp_jupyter
    ep = rp_jupyter.Endpoint("local", base_url=sys.argv[1], api_key=sys.argv[2])
    job = ep.run({"chunks": 400, "interval": 0.1})
    print(json.dumps(job.id), flush=True)
    time.sleep(600)  # killed by the test while its job runs
    """

ADOPT_AND_WAIT = """
    import sys
    from rp_jupyter.jobs.runtime_registry import RuntimeRegistry
    RuntimeRegistry.get()  # adopts the jobs of processes that stopped
    print("ready", flush=True)
    sys.stdin.read()      # until the test is done looking
    """

RESULT_OF = """
    import json, sys
    import rp_jupyter
    try:
        print(json.dumps({"output": rp_jupyter.result(sys.argv[1], timeout=60)}))
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__}))
    """


@pytest.fixture
def keyed_loopback():
    """A loopback endpoint that checks its key, and that key is the user's hosted key:
    what a port taken over by another process would hope to receive."""
    server = start_local("chaos", workers=1, api_key=HOSTED_KEY, rate_limits="off")
    yield server
    server.stop()


def _orphan(server: Any, env: dict[str, str]) -> str:
    """A job whose submitting process was killed while it ran (so the next one adopts it)."""
    child = spawn_python(SUBMIT_THEN_HANG, env, server.base_url, HOSTED_KEY)
    try:
        job_id = json.loads(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    assert not JobJournal.open().find(job_id).final
    server.reset_stats()
    return job_id


def _adopter(env: dict[str, str]) -> subprocess.Popen[str]:
    full_env = {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(ADOPT_AND_WAIT)],
                             env={**os.environ, **full_env}, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    return child


def _statuses_about(server: Any, job_id: str) -> list[int | None]:
    return [e["status_code"] for e in server.request_log if e["job_id"] == job_id]


def test_an_adopting_process_never_sends_the_hosted_key_to_a_loopback_port(
        keyed_loopback, rp_home):
    env = {"RP_JUPYTER_HOME": str(rp_home)}
    job_id = _orphan(keyed_loopback, env)
    adopter = _adopter({**env, "RUNPOD_API_KEY": HOSTED_KEY})
    try:
        wait_for(lambda: len(_statuses_about(keyed_loopback, job_id)) >= 1, 30,
                 what="the adopting process to ask about the job")
    finally:
        adopter.communicate("", timeout=30)
    seen = _statuses_about(keyed_loopback, job_id)
    assert seen and set(seen) == {401}, seen  # followed, but never with the key


def test_result_in_a_new_process_keeps_the_hosted_key_off_a_loopback_port(
        keyed_loopback, rp_home):
    env = {"RP_JUPYTER_HOME": str(rp_home)}
    job_id = _orphan(keyed_loopback, env)
    child = spawn_python(RESULT_OF, {**env, "RUNPOD_API_KEY": HOSTED_KEY}, job_id)
    try:
        wait_for(lambda: len(_statuses_about(keyed_loopback, job_id)) >= 1, 30,
                 what="rp_jupyter.result to ask about the job")
    finally:
        child.kill()
        child.communicate(timeout=30)
    seen = _statuses_about(keyed_loopback, job_id)
    assert seen and set(seen) == {401}, seen


def test_the_configured_base_url_is_followed_with_the_key(keyed_loopback, rp_home):
    env = {"RP_JUPYTER_HOME": str(rp_home)}
    job_id = _orphan(keyed_loopback, env)
    keyed_loopback.faults.clear()
    adopter = _adopter({**env, "RUNPOD_API_KEY": HOSTED_KEY,
                        "RUNPOD_ENDPOINT_BASE_URL": keyed_loopback.base_url + "/"})
    try:
        wait_for(lambda: 200 in _statuses_about(keyed_loopback, job_id), 30,
                 what="the adopting process to follow the job with its key")
    finally:
        adopter.communicate("", timeout=30)
    assert 401 not in _statuses_about(keyed_loopback, job_id)


@pytest.mark.parametrize(("url", "configured", "belongs"), [
    ("https://api.runpod.ai/v2", None, True),
    ("https://API.runpod.ai:443/v2/", None, True),
    ("http://api.runpod.ai/v2", None, False),
    ("https://api.runpod.ai.example.com/v2", None, False),
    ("http://127.0.0.1:8000/v2", None, False),
    ("http://127.0.0.1:8000/v2", "http://127.0.0.1:8000/v2/", True),
    ("http://127.0.0.1:8001/v2", "http://127.0.0.1:8000/v2", False),
    ("http://localhost:8000/v2", "http://127.0.0.1:8000/v2", False),
])
def test_the_key_belongs_to_the_hosted_api_and_the_configured_url(url, configured, belongs):
    assert key_belongs_to(url, configured=configured) is belongs


def test_the_environment_key_follows_the_configured_base_url(monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", HOSTED_KEY)
    assert env_key_for("https://api.runpod.ai/v2").reveal() == HOSTED_KEY
    assert env_key_for("http://127.0.0.1:9000/v2") is None
    monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", "http://127.0.0.1:9000/v2")
    assert env_key_for("http://127.0.0.1:9000/v2").reveal() == HOSTED_KEY
    monkeypatch.delenv("RUNPOD_API_KEY")
    assert env_key_for("https://api.runpod.ai/v2") is None
