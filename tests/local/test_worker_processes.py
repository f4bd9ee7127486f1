"""What a worker process is given and what it leaves behind: no client key in its
environment, and nothing its handler started outlives a cancel or an execution timeout."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.local.conftest import FAST_POLICY, process_alive, submit, wait_for, wait_status

HOSTED_KEY = "rpa_HOSTEDKEY_never_for_workers_0123"
LOCAL_KEY = "local-endpoint-key-4567"


def _no_client_key(env: dict[str, str]) -> None:
    assert "RUNPOD_API_KEY" not in env
    assert "RP_JUPYTER_LOCAL_API_KEY" not in env
    assert not [name for name, value in env.items() if HOSTED_KEY in value]


@pytest.fixture
def hosted_key_in_environment(monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", HOSTED_KEY)
    monkeypatch.setenv("RP_JUPYTER_LOCAL_API_KEY", HOSTED_KEY)


def _env_of_a_job(ep: Any, key: str | None = LOCAL_KEY) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(timeout=60, headers=headers) as client:
        doc = client.post(f"{ep.url}/runsync", json={"input": {}}).json()
    assert doc["status"] == "COMPLETED", doc
    return doc["output"]["env"]


def test_a_spawned_worker_gets_only_its_endpoints_key(start_endpoint,
                                                      hosted_key_in_environment):
    ep = start_endpoint("tests.local.handlers:environment", api_key=LOCAL_KEY)
    env = _env_of_a_job(ep)
    _no_client_key(env)
    assert env["RUNPOD_AI_API_KEY"] == LOCAL_KEY


def test_a_forked_worker_drops_the_keys_it_inherited(start_endpoint,
                                                     hosted_key_in_environment):
    def handler(job):  # defined here, so it can only run in a fork of this process
        return {"env": dict(os.environ), "pid": os.getpid()}

    ep = start_endpoint(handler)
    env = _env_of_a_job(ep, key=None)
    _no_client_key(env)
    assert "RUNPOD_AI_API_KEY" not in env
    assert os.environ["RUNPOD_API_KEY"] == HOSTED_KEY  # the parent keeps its own


def test_a_runpod_python_worker_gets_no_client_key(start_endpoint, tmp_path,
                                                   hosted_key_in_environment):
    script = tmp_path / "env_worker.py"
    script.write_text(
        "import os\nimport runpod\n\n"
        "def handler(job):\n    return {'env': dict(os.environ)}\n\n"
        "runpod.serverless.start({'handler': handler})\n")
    ep = start_endpoint(str(script), runpod_worker=True, api_key=LOCAL_KEY)
    env = _env_of_a_job(ep)
    _no_client_key(env)
    assert env["RUNPOD_AI_API_KEY"] == LOCAL_KEY


# -- a handler's own processes ----------------------------------------------------------------


def _sleep_started_by(client: httpx.Client, ep: Any, job_id: str) -> dict[str, int]:
    def first_chunk() -> dict[str, int] | None:
        stream = client.get(f"{ep.url}/stream/{job_id}").json().get("stream") or []
        return stream[0]["output"] if stream else None

    started = wait_for(first_chunk, 30, what="the handler to report its sleep's pid")
    assert process_alive(started["sleep_pid"])
    return started


@pytest.fixture
def sleeper(start_endpoint):
    return start_endpoint("tests.local.handlers:starts_a_sleep", workers=1, rate_limits="off",
                          **FAST_POLICY)


def test_cancel_ends_the_processes_the_handler_started(sleeper, client):
    job_id = submit(client, sleeper, {})
    started = _sleep_started_by(client, sleeper, job_id)
    assert client.post(f"{sleeper.url}/cancel/{job_id}").json()["status"] == "CANCELLED"
    wait_for(lambda: not process_alive(started["sleep_pid"]), 10,
             what="the handler's sleep to end with its worker")
    wait_for(lambda: not process_alive(started["worker_pid"]), 10, what="the worker to end")


def test_the_execution_timeout_ends_the_processes_the_handler_started(sleeper, client):
    job_id = submit(client, sleeper, {}, policy={"executionTimeout": 2000})
    started = _sleep_started_by(client, sleeper, job_id)
    doc = wait_status(client, sleeper, job_id, "FAILED", timeout=20)
    assert doc["error"] == "executionTimeout exceeded"
    wait_for(lambda: not process_alive(started["sleep_pid"]), 10,
             what="the timed-out handler's sleep to end")


def test_a_worker_that_dies_on_its_own_takes_its_handlers_processes_along(start_endpoint,
                                                                         client, tmp_path):
    ep = start_endpoint("tests.local.handlers:starts_a_sleep_then_dies", workers=1)
    go = tmp_path / "go"
    job_id = submit(client, ep, {"go": str(go)})
    started = _sleep_started_by(client, ep, job_id)
    go.touch()  # now the worker dies, leaving its sleep behind
    doc = wait_status(client, ep, job_id, "FAILED", timeout=20)
    assert "worker process exited" in doc["error"]
    wait_for(lambda: not process_alive(started["sleep_pid"]), 10,
             what="the dead worker's sleep to end too")


def test_a_forked_workers_handler_processes_end_with_a_cancel(start_endpoint, client):
    def handler(job):  # only a fork of this process can run it
        child = subprocess.Popen(["sleep", "300"])
        yield {"sleep_pid": child.pid, "worker_pid": os.getpid()}
        child.wait()

    ep = start_endpoint(handler, workers=1)
    job_id = submit(client, ep, {})
    started = _sleep_started_by(client, ep, job_id)
    client.post(f"{ep.url}/cancel/{job_id}")
    wait_for(lambda: not process_alive(started["sleep_pid"]), 10,
             what="the forked handler's sleep to end with its worker")


def test_a_worker_whose_server_process_dies_takes_its_handlers_processes_along(tmp_path):
    script = tmp_path / "serve.py"
    script.write_text(
        "import sys, httpx\n"
        "from rp_jupyter.local import LocalEndpoint\n"
        "ep = LocalEndpoint('tests.local.handlers:starts_a_sleep', workers=1).start()\n"
        "ep.wait_ready(30)\n"
        "print(ep.url, flush=True)\n"
        "sys.stdin.read()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    server = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = server.stdout.readline().strip()
        with httpx.Client(timeout=30) as client:
            job_id = client.post(f"{url}/run", json={"input": {}}).json()["id"]
            ep = type("Endpoint", (), {"url": url})
            started = _sleep_started_by(client, ep, job_id)
        server.kill()
        server.wait()
        wait_for(lambda: not process_alive(started["sleep_pid"]), 15,
                 what="the handler's sleep to end once its server is gone")
        wait_for(lambda: not process_alive(started["worker_pid"]), 10, what="the worker to end")
    finally:
        server.kill()
        server.wait()



def _own_pid(job: dict[str, Any]) -> int:
    return os.getpid()


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="no SCHED_BATCH on this platform")
@pytest.mark.parametrize("handler", ["tests.local.handlers:pid", _own_pid],
                         ids=["spawned", "forked"])
def test_a_worker_process_does_not_preempt_the_server_that_hands_it_a_job(start_endpoint,
                                                                          client, handler):
    """Its scheduling is batch (a woken worker waits its turn); the server's is not."""
    ep = start_endpoint(handler, workers=1, rate_limits="off")
    doc = client.post(f"{ep.url}/runsync", json={"input": {}}).json()
    assert doc["status"] == "COMPLETED" and doc["output"] != os.getpid()
    assert os.sched_getscheduler(doc["output"]) == os.SCHED_BATCH
    assert os.sched_getscheduler(0) != os.SCHED_BATCH
