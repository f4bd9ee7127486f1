"""A real kernel, shut down through jupyter_client as Jupyter does when a notebook is closed:
the session's unfinished jobs are listed on its stderr, and cancelled first with
``RunpodMagics.cancel_on_exit = True``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from rp_jupyter.jobs.journal import JobJournal

pytestmark = pytest.mark.e2e

START = ["%load_ext rp_jupyter",
         "%runpod local echo --id stuck --throttled 1",
         "%%runpod run stuck --no-wait -o job\n{\"left\": \"running\"}",
         "print(job.id)"]


def run_then_shut_down(tmp_path: Path, cells: list[str]) -> tuple[list[str], str]:
    """Run ``cells`` in a fresh kernel, shut it down; what they printed, and its stderr."""
    manager = KernelManager(kernel_name="python3")
    log = tmp_path / "kernel-stderr.txt"
    printed: list[str] = []
    with open(log, "w") as stderr:
        manager.start_kernel(stderr=stderr, env=dict(os.environ), cwd=str(tmp_path))
        client = manager.client()
        try:
            client.start_channels()
            client.wait_for_ready(timeout=60)
            for cell in cells:
                reply = client.execute_interactive(
                    cell, timeout=60, allow_stdin=False, output_hook=lambda msg: printed.append(
                        msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
                assert reply["content"]["status"] == "ok", reply["content"]
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=False)  # a shutdown_request, then a clean exit
    return printed, log.read_text()


def test_shutting_down_a_kernel_lists_its_unfinished_jobs_on_stderr(tmp_path, rp_home):
    printed, stderr = run_then_shut_down(tmp_path, START)
    job_id = printed[-1].strip()
    assert "rp_jupyter: 1 job(s) sent from this session are unfinished as it ends:" in stderr
    assert f"job {job_id} on stuck: IN_QUEUE (sent " in stderr
    assert "RunpodMagics.cancel_on_exit = True" in stderr
    record = JobJournal.open(rp_home / "journal.sqlite3").find(job_id)
    assert record.status == "IN_QUEUE" and not record.final  # left as it was


def test_cancel_on_exit_cancels_them_before_the_kernel_goes(tmp_path, rp_home):
    cells = ["%config RunpodMagics.cancel_on_exit = True", *START]
    printed, stderr = run_then_shut_down(tmp_path, cells)
    job_id = printed[-1].strip()
    assert "rp_jupyter: 1 job(s) sent from this session were unfinished as it ends:" in stderr
    assert f"job {job_id} on stuck: CANCELLED now" in stderr
    assert "They were cancelled (RunpodMagics.cancel_on_exit is on)." in stderr
    record = JobJournal.open(rp_home / "journal.sqlite3").find(job_id)
    assert record.status == "CANCELLED" and record.final
