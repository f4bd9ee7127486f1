"""Jobs of a local endpoint that stopped end LOST, promptly, saying why; ``result()``
answers at once; a hosted URL that refuses connections is only unreachable for now."""

from __future__ import annotations

import socket
import time

import pytest

import rp_jupyter
from rp_jupyter.api.models import JobStatus
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.notebook.jobs_table import JobsTable, static_jobs_bundle
from tests.client_support import run_python, start_local, wait_for

DEAD_KERNEL = """
    import json, os, sys
    import rp_jupyter
    from rp_jupyter.local import LocalEndpoint

    server = LocalEndpoint("chaos", workers=1).start()
    server.wait_ready(30)
    job = rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url).run({"sleep": 60})
    print(json.dumps({"id": job.id, "base_url": server.base_url}), flush=True)
    server.stop()   # the kernel dies, and its local endpoint with it
    os._exit(0)
    """


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_job_whose_local_endpoint_stops_ends_lost_promptly():
    server = start_local("chaos", workers=1)
    try:
        job = rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url).run(
            {"sleep": 60})
        wait_for(lambda: server.job_record(job.id)["status"] == "IN_PROGRESS",
                 what="the job to start")
    finally:
        server.stop()
    started = time.monotonic()
    with pytest.raises(rp_jupyter.JobLostError) as caught:
        job.result(timeout=30)
    assert time.monotonic() - started < 15  # not 24 hours
    assert "local endpoint" in str(caught.value) and "stopped" in str(caught.value)
    assert job.status is JobStatus.LOST and job.is_final
    record = JobJournal.open().find(job.id)
    assert record.status == "LOST" and record.final and "stopped" in record.note


def test_a_job_left_by_a_dead_kernel_is_lost_at_once_for_result_and_the_table(rp_home):
    left = run_python(DEAD_KERNEL, {"RP_JUPYTER_HOME": str(rp_home)}, timeout=60)
    record = JobJournal.open().find(left["id"])
    assert not record.final  # the kernel died while its job ran

    started = time.monotonic()
    with pytest.raises(rp_jupyter.JobLostError, match=r"local endpoint .* stopped"):
        rp_jupyter.result(left["id"])
    assert time.monotonic() - started < 5  # at once, not after a day of retries
    listed = rp_jupyter.jobs()
    assert [(r.job_id, r.status, r.final) for r in listed] == [(left["id"], "LOST", True)]
    table = static_jobs_bundle(listed)["text/plain"]
    assert "LOST" in table and "stopped" in table
    assert "cancel" not in JobsTable._actions_for(listed[0])


def test_unfinished_jobs_of_a_stopped_local_endpoint_show_as_lost_in_the_list(rp_home):
    left = run_python(DEAD_KERNEL, {"RP_JUPYTER_HOME": str(rp_home)}, timeout=60)
    assert [(r.status, r.final) for r in rp_jupyter.jobs()] == [("LOST", True)]
    with pytest.raises(rp_jupyter.JobLostError):
        rp_jupyter.Endpoint("local", base_url=left["base_url"]).job(left["id"]).result()


def test_a_hosted_url_that_refuses_connections_is_not_lost():
    base_url = f"http://{socket.gethostname()}:{closed_port()}/v2"  # not a loopback name
    journal = JobJournal.open()
    key = journal.record_submitting(base_url=base_url, endpoint_id="hosted", mode="run",
                                    request={"input": {}}, input_hash="h",
                                    request_hash="r").result()
    journal.record_submitted(key, "hosted-job-1", "IN_PROGRESS").result()
    journal.release(key).result()
    ep = rp_jupyter.Endpoint("hosted", base_url=base_url, api_key="k", max_retries=0)
    job = ep.job("hosted-job-1")
    wait_for(lambda: job.tracking_error is not None, timeout=20, what="connection trouble")
    assert isinstance(job.tracking_error, rp_jupyter.APIConnectionError)
    assert not job.wait(2)  # still followed, with backoff
    assert job.status is not JobStatus.LOST and not journal.find("hosted-job-1").final
