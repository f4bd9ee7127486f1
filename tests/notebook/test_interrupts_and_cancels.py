"""Nothing left running unseen: interrupting a ``--sync`` cell cancels its job (or says in
one line why not, and how it is dealt with), and ``%runpod cancel --all`` tries every job."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from rp_jupyter.local import LocalEndpoint
from tests.waiting import wait_for


def interrupt_when(ready: Callable[[], bool], timeout: float = 20.0) -> threading.Thread:
    """Press Ctrl-C (SIGINT to this process) as soon as ``ready()`` holds."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def runsync_job(handle) -> str | None:
    """The id of the job a /runsync started on ``handle`` (once the server has it)."""
    ids = [e["job_id"] for e in handle.request_log if e["op"] == "runsync" and e["job_id"]]
    return ids[-1] if ids else None


def running_on(handle) -> Callable[[], bool]:
    def check() -> bool:
        job_id = runsync_job(handle)
        return bool(job_id) and (handle.job_record(job_id) or {}).get("status") == "IN_PROGRESS"

    return check


def interrupted_lines(run) -> list[str]:
    return [line for line in (run.stdout + run.stderr).splitlines()
            if line.startswith("Interrupted")]


@pytest.mark.timeout(90)
def test_interrupting_a_sync_cell_cancels_its_job(ip, local, monkeypatch):
    handle = local.endpoint("chaos")
    monkeypatch.setattr(handle.settings, "runsync_default_wait", 2.0)  # then the id comes
    watcher = interrupt_when(running_on(handle))
    run = ip.run('%%runpod run chaos --sync\n{"sleep": 60}')
    watcher.join()
    assert isinstance(run.error, KeyboardInterrupt)
    job_id = runsync_job(handle)
    assert handle.job_record(job_id)["status"] == "CANCELLED"
    assert interrupted_lines(run) == [f"Interrupted: cancelled job {job_id} on endpoint chaos"]
    assert ip.magics.session_jobs[-1].id == job_id  # %runpod status / result find it


@pytest.mark.timeout(90)
def test_a_sync_cell_interrupted_before_its_id_came_back_cancels_the_job_when_it_does(
        ip, local, monkeypatch):
    handle = local.endpoint("chaos")
    monkeypatch.setattr(handle.settings, "runsync_default_wait", 3.0)
    monkeypatch.setattr("rp_jupyter.jobs.interrupts.SUBMIT_GRACE", 0.2)
    watcher = interrupt_when(running_on(handle))
    run = ip.run('%%runpod run chaos --sync\n{"sleep": 60}')
    watcher.join()
    assert isinstance(run.error, KeyboardInterrupt)
    assert interrupted_lines(run) == [
        "Interrupted: /runsync to endpoint chaos has not answered with the job's id yet; "
        "the job is cancelled as soon as it does (see %runpod jobs)"]
    job_id = runsync_job(handle)
    wait_for(lambda: handle.job_record(job_id)["status"] == "CANCELLED", 20,
             what="the job to be cancelled once /runsync answered")


@pytest.mark.timeout(120)
def test_cancel_all_tries_every_job_and_names_those_it_could_not_cancel(ip, local):
    gone = LocalEndpoint("chaos", endpoint_id="gone").start()
    try:
        gone.wait_ready(30)
        first = ip.run(f"%%runpod run gone --base-url {gone.base_url} --no-wait\n"
                       '{"sleep": 60}').value
    finally:
        gone.stop()  # its job can no longer be reached
    chaos = local.endpoint("chaos")
    later = [ip.run('%%runpod run chaos --no-wait\n{"sleep": 60}').value for _ in range(2)]
    run = ip.run("%runpod cancel --all")
    assert run.error is None, run.stderr
    cancels = {e["job_id"]: e["status_code"] for e in chaos.request_log if e["op"] == "cancel"}
    assert all(cancels.get(job.id) == 200 and job.status == "CANCELLED" for job in later)
    lines = run.stdout.strip().splitlines()
    assert lines[0] == ("Cancelled 2 of 3 unfinished job(s) started from this notebook; "
                        "could not cancel 1:")
    assert lines[1].startswith(f"  {first.id} on endpoint gone: ")
    assert lines[-1] == "Try again with %runpod cancel JOB (they may still be running)."


def test_cancel_all_reports_a_clean_sweep_in_one_line(ip, local):
    jobs = [ip.run('%%runpod run chaos --no-wait\n{"sleep": 60}').value for _ in range(2)]
    run = ip.run("%runpod cancel --all")
    assert run.stdout.strip() == "Cancelled 2 unfinished job(s) started from this notebook."
    assert all(job.status == "CANCELLED" for job in jobs)
    assert ip.run("%runpod cancel --all").stdout.strip() == \
        "No unfinished jobs started from this notebook."
