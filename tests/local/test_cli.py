"""``rp-jupyter serve``: banner, environment lines, several endpoints, admin routes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from tests.local.conftest import process_alive, wait_for

CLI = [sys.executable, "-m", "rp_jupyter.local.cli"]


def _serve(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([*CLI, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl+C"):
            return proc, lines
    proc.wait(10)
    raise AssertionError(f"server did not start: {proc.stderr.read()}")


def _base(lines: list[str]) -> str:
    return next(re.search(r"RUNPOD_ENDPOINT_BASE_URL=(\S+)", ln).group(1) for ln in lines
                if "RUNPOD_ENDPOINT_BASE_URL" in ln)


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(20)


def test_serve_prints_the_client_environment_and_serves_jobs():
    proc, lines = _serve("echo", "--endpoint-id", "demo", "--api-key", "cli-key",
                         "--workers", "2")
    try:
        text = "\n".join(lines)
        base = _base(lines)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v2", base)
        assert "export RUNPOD_ENDPOINT_ID=demo" in text
        assert "cli-key" not in text  # the key is never printed
        assert "export RUNPOD_API_KEY=..." in text
        with httpx.Client(timeout=10, headers={"Authorization": "Bearer cli-key"}) as client:
            doc = client.post(f"{base}/demo/runsync", json={"input": {"c": 1}}).json()
            assert doc["output"] == {"echo": {"c": 1}}
            health = client.get(f"{base}/demo/health").json()
            assert health["workers"]["idle"] + health["workers"]["running"] == 2
            root = base.removesuffix("/v2")
            stats = client.get(f"{root}/_local/stats", params={"endpoint": "demo"}).json()
            assert stats["by_op"] == {"runsync": 1, "health": 1}
            record = client.get(f"{root}/_local/jobs/demo/{doc['id']}").json()
            assert record["status"] == "COMPLETED"
            assert client.get(f"{root}/_local/stats").status_code == 200
            assert httpx.get(f"{root}/_local/stats").status_code == 401
    finally:
        assert _stop(proc) == 0


def test_a_key_from_the_environment_is_never_printed():
    proc, lines = _serve("echo", "--api-key-env", "MY_SECRET_KEY",
                         env={"MY_SECRET_KEY": "very-secret-value"})
    try:
        text = "\n".join(lines)
        assert "very-secret-value" not in text
        assert "$MY_SECRET_KEY" in text
        base = _base(lines)
        assert httpx.get(f"{base}/local/health").status_code == 401
        ok = httpx.get(f"{base}/local/health",
                       headers={"Authorization": "very-secret-value"})
        assert ok.status_code == 200
    finally:
        _stop(proc)


def test_the_key_can_come_from_rp_jupyter_local_api_key_and_is_never_printed():
    proc, lines = _serve("echo", env={"RP_JUPYTER_LOCAL_API_KEY": "env-held-secret"})
    try:
        text = "\n".join(lines)
        assert "env-held-secret" not in text and "$RP_JUPYTER_LOCAL_API_KEY" in text
        base = _base(lines)
        assert httpx.get(f"{base}/local/health").status_code == 401
        assert httpx.get(f"{base}/nope/health").status_code == 401  # no probing of ids
        ok = httpx.get(f"{base}/local/health", headers={"Authorization": "env-held-secret"})
        assert ok.status_code == 200
    finally:
        _stop(proc)


def test_no_key_means_no_key_line():
    proc, lines = _serve("echo")
    try:
        assert not any("RUNPOD_API_KEY" in line for line in lines)
    finally:
        _stop(proc)


def test_several_endpoints_with_their_own_handlers_and_settings():
    proc, lines = _serve("--endpoint", "a=echo", "--endpoint", "b=chaos",
                         "--aggregate-stream", "--no-rate-limits", "--run-retention", "5")
    try:
        base = _base(lines)
        with httpx.Client(timeout=10) as client:
            a = client.post(f"{base}/a/runsync", json={"input": {"x": 1}}).json()
            b = client.post(f"{base}/b/runsync", json={"input": {"chunks": 1}}).json()
            assert a["output"] == {"echo": {"x": 1}}
            assert b["output"][0] == {"chunk": 0}
            assert all(client.post(f"{base}/a/purge-queue").status_code == 200
                       for _ in range(4))
            assert client.get(f"{base}/nope/health").status_code == 404
    finally:
        _stop(proc)


def test_stopping_the_cli_stops_its_workers():
    proc, lines = _serve("chaos")
    base = _base(lines)
    with httpx.Client(timeout=10) as client:
        job_id = client.post(f"{base}/local/run", json={"input": {"hang": True}}).json()["id"]
        wait_for(lambda: client.get(f"{base}/local/status/{job_id}").json()["status"]
                 == "IN_PROGRESS", what="the job to start")
        root = base.removesuffix("/v2")
        worker = client.get(f"{root}/_local/jobs/local/{job_id}").json()["worker_id"]
        assert worker
    found = subprocess.run(["pgrep", "-f", "rp_jupyter.local.worker_main"], capture_output=True,
                           text=True).stdout.split()
    mine = [int(pid) for pid in found if _parent(int(pid)) == proc.pid]
    assert mine
    proc.terminate()
    assert proc.wait(20) == 0
    wait_for(lambda: not any(process_alive(pid) for pid in mine), what="workers to exit")


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


@pytest.mark.parametrize("args, words", [
    (["no_such_module_here"], "handler module not found"),
    (["--endpoint", "broken"], "ID=HANDLER"),
    ([], "give a HANDLER"),
])
def test_bad_arguments_fail_with_a_message(args, words):
    done = subprocess.run([*CLI, "serve", "--port", "0", *args], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0
    assert words in done.stderr


def test_the_console_script_is_declared():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("rp-jupyter") == "rp_jupyter.local.cli:main"
