"""``--runpod-worker`` (``runpod_worker=True``): the script runs as it is, ``python
worker.py``, as a real runpod-python worker pulling jobs through the worker protocol."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rp_jupyter.local import HandlerLoadError, LocalEndpoint
from tests.local.conftest import process_alive, submit, wait_for, wait_status
from tests.local.test_example_media import wav_base64

SCRIPTS = Path(__file__).parent / "worker_scripts"
TEMPLATE = str(SCRIPTS / "template" / "handler.py")


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _group(pgid: int) -> list[int]:
    """Live processes of a process group."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid and process_alive(int(entry)):
                    found.append(int(entry))
            except OSError:
                pass
    return found


def test_serve_runs_the_script_as_it_is_and_prints_its_environment_without_the_key():
    env = {**os.environ, "MY_WORKER_KEY": "do-not-print-me"}
    proc = subprocess.Popen([sys.executable, "-m", "rp_jupyter.local.cli", "serve", TEMPLATE,
                             "--port", "0", "--runpod-worker", "--api-key-env",
                             "MY_WORKER_KEY"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.strip().startswith("RUNPOD_AI_API_KEY="):
                break
        text = "\n".join(lines)
        assert "do-not-print-me" not in text
        assert f"runs `{sys.executable} {TEMPLATE}` unchanged" in text
        assert "  RUNPOD_AI_API_KEY=<the endpoint's API key, not shown>" in lines
        take = next(ln for ln in lines if "RUNPOD_WEBHOOK_GET_JOB=" in ln)
        assert re.search(r"http://127\.0\.0\.1:\d+/v2/local/job-take/\$ID\?gpu=local", take)
        base = re.search(r"RUNPOD_ENDPOINT_BASE_URL=(\S+)", text).group(1)
        import httpx

        auth = {"Authorization": "do-not-print-me"}
        doc = httpx.post(f"{base}/local/runsync", json={"input": {"name": "Ann"}},
                         headers=auth, timeout=60).json()
        assert doc["output"] == "Hello, Ann!"
        root = base.removesuffix("/v2")
        worker = httpx.get(f"{root}/_local/jobs/local/{doc['id']}", headers=auth).json()
        assert worker["worker_id"] == doc["workerId"]
        pids = [int(p) for p in subprocess.run(["pgrep", "-f", TEMPLATE], capture_output=True,
                                               text=True).stdout.split()]
        mine = [p for p in pids if os.getpgid(p) == p and _cmdline(p).split()[1:] == [TEMPLATE]]
        assert len(mine) == 1
        group = mine[0]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    wait_for(lambda: not _group(group), what="the worker and its heartbeat process to exit")


def test_official_shaped_whisper_runs_job_after_job_as_a_runpod_worker(start_endpoint, client,
                                                                        monkeypatch,
                                                                        tmp_path):
    monkeypatch.chdir(tmp_path)
    ep = start_endpoint(str(SCRIPTS / "faster_whisper" / "src" / "rp_handler.py"),
                        runpod_worker=True, ready=False)
    ep.wait_ready(60.0)
    pid = ep.workers()[0]["pid"]
    assert _cmdline(pid).endswith("rp_handler.py ")
    for seconds in (2.0, 3.0, 4.0):
        doc = client.post(f"{ep.url}/runsync", json={"input": {
            "audio_base64": wav_base64(seconds)}}, params={"wait": 60000}).json()
        assert doc["status"] == "COMPLETED", doc.get("error")
        assert doc["output"]["segments"][-1]["end"] == seconds


def test_a_cancel_reaches_a_runpod_worker_by_signal(start_endpoint, client, tmp_path,
                                                    monkeypatch):
    monkeypatch.setattr("rp_jupyter.local.worker_pool.STOP_GRACE", 0.1)  # it must not apply
    script = tmp_path / "sleeper.py"
    script.write_text(textwrap.dedent("""
        import asyncio
        import runpod

        async def handler(job):
            await asyncio.sleep(job["input"]["sleep"])
            return {"slept": job["input"]["sleep"]}

        runpod.serverless.start({"handler": handler})
    """))
    ep = start_endpoint(str(script), runpod_worker=True, ready=False)
    ep.wait_ready(60.0)
    pid = ep.workers()[0]["pid"]
    job_id = submit(client, ep, {"sleep": 60})
    wait_status(client, ep, job_id, "IN_PROGRESS", timeout=30)
    assert client.post(f"{ep.url}/cancel/{job_id}").json()["status"] == "CANCELLED"
    for _ in range(2):
        doc = client.post(f"{ep.url}/runsync", json={"input": {"sleep": 0.2}},
                          params={"wait": 60000}).json()
        assert doc["output"] == {"slept": 0.2}
    assert process_alive(pid) and ep.workers()[0]["pid"] == pid
    assert doc["workerId"] == ep.workers()[0]["id"]


def test_a_runpod_worker_that_dies_while_starting_says_what_it_wrote(start_endpoint, tmp_path):
    script = tmp_path / "dies.py"
    script.write_text("import sys\nimport runpod\nsys.stderr.write('no GPU here\\n')\n"
                      "sys.exit(3)\nrunpod.serverless.start({'handler': print})\n")
    ep = start_endpoint(str(script), runpod_worker=True, ready=False)
    with pytest.raises(HandlerLoadError, match=r"exited before it asked for a job \(exit code 3"
                                               r"\); it last wrote: no GPU here"):
        ep.wait_ready(30.0)


@pytest.mark.parametrize("spec, words", [
    ("plain", "never calls runpod.serverless.start"),
    ("named", "cannot pick the handler 'other'"),
])
def test_what_cannot_run_as_a_runpod_worker_is_refused(tmp_path, spec, words):
    script = tmp_path / "w.py"
    script.write_text("import runpod\n\ndef handler(job):\n    return 1\n\n"
                      "def other(job):\n    return 2\n" +
                      ("runpod.serverless.start({'handler': handler})\n" if spec == "named"
                       else ""))
    target = f"{script}:other" if spec == "named" else str(script)
    with pytest.raises(ValueError, match=words):
        LocalEndpoint(target, runpod_worker=True)
    with pytest.raises(ValueError, match="not a function"):
        LocalEndpoint(lambda job: job, runpod_worker=True)


def test_a_runpod_worker_ends_when_the_program_exits_without_stopping_its_server(tmp_path):
    """An interpreter that exits with a server still running (a notebook kernel or IPython
    closed) stops every endpoint's workers, a runpod worker beside another endpoint too."""
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent("""\
        import os
        import runpod

        def handler(job):
            return os.getpid()

        runpod.serverless.start({"handler": handler})
    """))
    program = textwrap.dedent(f"""\
        import httpx
        from rp_jupyter.local.server import LocalServer

        server = LocalServer(port=0)
        server.add_endpoint("first", "echo", 1)
        server.add_endpoint("script", {str(script)!r}, 1, runpod_worker=True)
        server.start()
        answer = httpx.post(server.root_url + "/v2/script/runsync", json={{"input": {{}}}},
                            timeout=60).json()
        print(answer["output"], flush=True)
    """)
    output = tmp_path / "output.txt"
    with output.open("w") as out:  # a file, not a pipe: a worker left behind cannot hold it
        done = subprocess.run([sys.executable, "-c", program], stdout=out,
                              stderr=subprocess.STDOUT, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, output.read_text()[-2000:]
    worker = int(output.read_text().split()[-1])
    try:
        wait_for(lambda: not process_alive(worker), timeout=10,
                 what="the runpod worker to end with its program")
    finally:
        if process_alive(worker):
            os.kill(worker, signal.SIGKILL)
