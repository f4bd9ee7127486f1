"""The official runpod-python package, as client and as worker, against the local endpoint.

The client reads ``RUNPOD_ENDPOINT_BASE_URL`` when ``runpod`` is imported, so it runs in a
subprocess with that variable set.  The worker is a real ``runpod.serverless.start``
script pulling jobs through the local worker protocol.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from rp_jupyter.local import LocalServer
from tests.local.conftest import submit, wait_for, wait_status

CLIENT_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import runpod

    runpod.api_key = os.environ["TEST_KEY"]
    assert runpod.endpoint_url_base == os.environ["RUNPOD_ENDPOINT_BASE_URL"]
    results = {}
    tokens = runpod.Endpoint("tokens")
    chaos = runpod.Endpoint("chaos")

    job = tokens.run({"prompt": "one two three", "rate": 0})
    results["run_id"] = job.job_id
    results["output"] = job.output(timeout=20)
    results["status"] = job.status()

    results["run_sync"] = chaos.run_sync({"sleep": 0.1}, timeout=20)

    streamed = tokens.run({"prompt": "alpha beta gamma delta epsilon", "rate": 10})
    results["stream"] = list(streamed.stream())

    hanging = chaos.run({"hang": True})
    deadline = time.monotonic() + 20
    while hanging.status() != "IN_PROGRESS":
        assert time.monotonic() < deadline, "the hanging job never started"
        time.sleep(0.05)
    queued = [chaos.run({}) for _ in range(2)]
    results["purge"] = chaos.purge_queue()
    results["queued_after_purge"] = [q.status() for q in queued]
    results["cancel"] = hanging.cancel()
    results["health"] = chaos.health()
    print(json.dumps(results))
""")


@pytest.fixture(scope="module")
def compat_server():
    with LocalServer() as server:
        server.add_endpoint("tokens", "tokens", api_key="compat-key")
        server.add_endpoint("chaos", "chaos", return_aggregate_stream=True,
                            api_key="compat-key")
        for handle in server.endpoints.values():
            handle.wait_ready(20.0)
        yield server


def test_the_runpod_client_works_against_the_local_endpoint(compat_server, tmp_path):
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    env = {**os.environ, "RUNPOD_ENDPOINT_BASE_URL": compat_server.base_url,
           "TEST_KEY": "compat-key"}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["output"] == []
    assert results["status"] == "COMPLETED"
    assert results["run_sync"] == [{"done": True, "slept": 0.1, "chunks": 0, "attempt": 1}]
    assert results["stream"] == ["alpha ", "beta ", "gamma ", "delta ", "epsilon "]
    assert results["purge"] == {"removed": 2, "status": "completed"}
    assert results["queued_after_purge"] == ["CANCELLED", "CANCELLED"]
    assert results["cancel"]["status"] == "CANCELLED"
    assert set(results["health"]) == {"jobs", "workers"}
    chaos = compat_server.endpoint("chaos")
    assert chaos.request_count("purge-queue") == 1 and chaos.request_count("cancel") == 1
    assert compat_server.endpoint("tokens").request_count("stream") >= 2


WORKER_SCRIPT = textwrap.dedent("""
    import asyncio
    import runpod

    async def handler(job):
        data = job["input"]
        if data.get("sleep"):
            await asyncio.sleep(data["sleep"])
        if data.get("stream"):
            raise RuntimeError("unused")
        return {"from": "runpod worker", "input": data}

    runpod.serverless.start({"handler": handler})
""")

GENERATOR_SCRIPT = textwrap.dedent("""
    import runpod

    def handler(job):
        for i in range(int(job["input"]["n"])):
            yield {"i": i}

    runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
""")


def _start_runpod_worker(ep, tmp_path, source: str) -> subprocess.Popen:
    script = tmp_path / "runpod_worker.py"
    script.write_text(source)
    env = {**os.environ, **ep.worker_env("runpod-worker-1")}
    return subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(worker: subprocess.Popen) -> None:
    """End the worker and the heartbeat process runpod-python started beside it."""
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


def test_a_real_runpod_worker_pulls_jobs_through_the_worker_protocol(start_endpoint, client,
                                                                      tmp_path):
    ep = start_endpoint("echo", workers=0, ready=False, api_key="worker-key")
    worker = _start_runpod_worker(ep, tmp_path, WORKER_SCRIPT)
    try:
        auth = {"Authorization": "Bearer worker-key"}
        doc = client.post(f"{ep.url}/runsync", json={"input": {"a": 1}}, headers=auth,
                          params={"wait": 60000}).json()
        assert doc["status"] == "COMPLETED"
        assert doc["output"] == {"from": "runpod worker", "input": {"a": 1}}
        assert doc["workerId"] == "runpod-worker-1"
        assert ep.workers()[0]["external"] is True
        client.headers.update(auth)
        job_id = submit(client, ep, {"sleep": 60})
        wait_status(client, ep, job_id, "IN_PROGRESS")
        assert client.post(f"{ep.url}/cancel/{job_id}").json()["status"] == "CANCELLED"
        after = client.post(f"{ep.url}/runsync", json={"input": {"b": 2}},
                            params={"wait": 30000}).json()
        assert after["status"] == "COMPLETED" and after["output"]["input"] == {"b": 2}
    finally:
        _stop(worker)


def test_a_real_runpod_generator_worker_streams_chunks(start_endpoint, client, tmp_path):
    ep = start_endpoint("echo", workers=0, ready=False)
    worker = _start_runpod_worker(ep, tmp_path, GENERATOR_SCRIPT)
    try:
        doc = client.post(f"{ep.url}/runsync", json={"input": {"n": 3}},
                          params={"wait": 60000}).json()
        assert doc["output"] == [{"i": 0}, {"i": 1}, {"i": 2}]
        stream = client.get(f"{ep.url}/stream/{doc['id']}").json()["stream"]
        assert [c["output"] for c in stream] == [{"i": 0}, {"i": 1}, {"i": 2}]
    finally:
        _stop(worker)


UNCHANGED_SCRIPT = textwrap.dedent("""
    import os
    import time

    import runpod

    def predict(job):
        runpod.serverless.progress_update(job, {"progress": 0.5})
        deadline = time.monotonic() + 20
        while not os.path.exists(job["input"]["go"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        for word in ("served", "unchanged"):
            yield word

    runpod.serverless.start({"handler": predict, "return_aggregate_stream": True})
""")


def test_a_runpod_worker_script_is_served_unchanged(start_endpoint, client, tmp_path):
    script = tmp_path / "runpod_style.py"
    script.write_text(UNCHANGED_SCRIPT)
    go = tmp_path / "go"
    ep = start_endpoint(str(script), api_key="progress-key")
    client.headers["Authorization"] = "progress-key"
    job_id = submit(client, ep, {"go": str(go)})
    progress = wait_for(lambda: client.get(f"{ep.url}/status/{job_id}").json().get("output"),
                        timeout=20, what="the progress update")
    assert progress == {"progress": 0.5}
    assert client.get(f"{ep.url}/status/{job_id}").json()["status"] == "IN_PROGRESS"
    go.write_text("")
    doc = wait_status(client, ep, job_id, "COMPLETED", timeout=20)
    assert doc["output"] == ["served", "unchanged"]
