"""What a cell shows when things go wrong underneath: a blocking cell ends although the
journal is locked; ``%runpod result`` and ``%runpod jobs`` say at once that a job of a
stopped local endpoint is lost."""

from __future__ import annotations

import sqlite3
import threading
import time

from IPython.core.error import UsageError

from rp_jupyter.api.models import JobStatus
from rp_jupyter.jobs import journal_store
from rp_jupyter.jobs.journal import JobJournal
from tests.client_support import run_python
from tests.jobs.test_lost_jobs import DEAD_KERNEL
from tests.waiting import wait_for

ALL = [{"chunk": i} for i in range(4)] + [
    {"done": True, "slept": 0.0, "chunks": 4, "attempt": 1}]


def test_a_blocking_cell_ends_while_the_journal_is_locked_past_its_busy_timeout(
        ip, local, monkeypatch):
    monkeypatch.setattr(journal_store, "BUSY_TIMEOUT_MS", 200)
    journal = JobJournal.open()
    held, release = threading.Event(), threading.Event()

    def hold_the_journal() -> None:  # another program locks it once the job streams
        wait_for(lambda: journal.list(limit=1) and journal.list(limit=1)[0].chunk_count,
                 timeout=30, what="the first chunk on disk")
        holder = sqlite3.connect(journal.path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        held.set()
        release.wait(60)
        holder.execute("COMMIT")
        holder.close()

    holder = threading.Thread(target=hold_the_journal)
    holder.start()
    try:
        started = time.monotonic()
        run = ip.run('%%runpod run chaos --wait\n{"chunks": 4, "interval": 0.3}')
        took = time.monotonic() - started
    finally:
        release.set()
        holder.join(30)
    assert held.is_set() and run.error is None, run.stderr
    job = run.value
    assert job.status is JobStatus.COMPLETED and job.chunks == ALL and took < 20
    assert "COMPLETED" in run.stdout
    wait_for(lambda: journal.find(job.id).final, timeout=30, what="the journal to catch up")


def test_result_and_jobs_say_at_once_that_a_job_of_a_stopped_local_endpoint_is_lost(
        ip, rp_home, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a terminal wide enough for the table's note column
    left = run_python(DEAD_KERNEL, {"RP_JUPYTER_HOME": str(rp_home)}, timeout=60)
    started = time.monotonic()
    run = ip.run(f"%runpod result {left['id']}")
    assert time.monotonic() - started < 5
    assert isinstance(run.error, UsageError)
    assert "lost" in str(run.error) and "local endpoint" in str(run.error)
    run = ip.run("%runpod jobs")
    assert run.error is None, run.stderr
    assert "LOST" in run.stdout and "stopped" in run.stdout
