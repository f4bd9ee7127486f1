"""Worker supervision: cold start, health counts, resizing, clean shutdown."""

from __future__ import annotations

from tests.local.conftest import process_alive, submit, wait_for, wait_status


def test_a_cold_start_shows_workers_initializing_then_ready(start_endpoint, client):
    ep = start_endpoint("echo", workers=2, cold_start=0.5, ready=False)
    first = client.get(f"{ep.url}/health").json()["workers"]
    assert first["initializing"] == 2 and first["idle"] == 0
    doc = client.post(f"{ep.url}/runsync", json={"input": {}}).json()
    assert doc["status"] == "COMPLETED"
    assert doc["delayTime"] >= 300
    wait_for(lambda: ep.health()["workers"]["idle"] == 2, what="both workers ready")
    assert ep.health()["workers"]["ready"] == 2


def test_health_counts_running_jobs_and_queued_ones(start_endpoint, client):
    ep = start_endpoint("chaos", workers=1)
    running = submit(client, ep, {"sleep": 30})
    wait_status(client, ep, running, "IN_PROGRESS")
    queued = submit(client, ep, {})
    health = client.get(f"{ep.url}/health").json()
    assert health["jobs"]["inProgress"] == 1 and health["jobs"]["inQueue"] == 1
    assert health["workers"]["running"] == 1 and health["workers"]["idle"] == 0
    client.post(f"{ep.url}/cancel/{running}")
    wait_status(client, ep, queued, "COMPLETED")


def test_the_number_of_workers_can_change_while_running(start_endpoint):
    ep = start_endpoint("echo", workers=1)
    ep.settings.workers = 3
    wait_for(lambda: ep.health()["workers"]["idle"] == 3, what="three workers")
    pids = [w["pid"] for w in ep.workers()]
    ep.settings.workers = 1
    wait_for(lambda: ep.health()["workers"]["idle"] == 1 and len(ep.workers()) == 1,
             what="one worker left")
    survivor = ep.workers()[0]["pid"]
    wait_for(lambda: not any(process_alive(p) for p in pids if p != survivor),
             what="retired workers to exit")


def test_stop_kills_every_worker_and_is_idempotent(start_endpoint, client):
    ep = start_endpoint("chaos", workers=2)
    job_id = submit(client, ep, {"hang": True})
    wait_status(client, ep, job_id, "IN_PROGRESS")
    pids = [w["pid"] for w in ep.workers()]
    assert len(pids) == 2 and all(process_alive(p) for p in pids)
    ep.stop()
    ep.stop()
    wait_for(lambda: not any(process_alive(p) for p in pids), what="all workers to exit")
    assert not ep.server.running


def test_workers_leave_when_their_server_process_dies(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "serve.py"
    script.write_text(
        "from rp_jupyter.local import LocalEndpoint\n"
        "ep = LocalEndpoint('chaos', workers=1).start()\n"
        "ep.wait_ready(20)\n"
        "print([w['pid'] for w in ep.workers()][0], flush=True)\n"
        "import time\n"
        "time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker_pid = int(proc.stdout.readline())
    assert process_alive(worker_pid)
    proc.kill()
    proc.wait()
    wait_for(lambda: not process_alive(worker_pid), timeout=10, what="the orphaned worker to exit")
