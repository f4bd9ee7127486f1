"""Across processes: results outlive the server's window, a killed process's job is taken
over by the next one, and several processes share one journal."""

from __future__ import annotations

import json
import signal
import sqlite3

import pytest

from rp_jupyter.jobs.journal import JobJournal
from tests.client_support import run_python, spawn_python, start_local, wait_for
from tests.jobs.handlers import blob_output


@pytest.fixture
def env(rp_home) -> dict[str, str]:
    return {"RP_JUPYTER_HOME": str(rp_home)}


def test_results_outlive_the_servers_window_and_are_read_by_a_new_process(env):
    server = start_local("tests.jobs.handlers:blob", workers=2, run_retention=1.0)
    try:
        submit = """
            import json, sys, time
            import rp_jupyter
            from rp_jupyter.jobs.journal import JobJournal
            ep = rp_jupyter.Endpoint("local", base_url=sys.argv[1])
            ids = [ep.run({"i": i}).id for i in range(50)]   # nobody reads them
            journal, deadline = JobJournal.open(), time.monotonic() + 60
            while not all(journal.find(i).final for i in ids) and time.monotonic() < deadline:
                time.sleep(0.05)
            print(json.dumps(ids))
            """
        ids = run_python(submit, env, server.base_url)
        assert len(ids) == 50
        wait_for(lambda: all(server.job_record(i) is None for i in ids), timeout=30,
                 what="the server to forget every result")
        server.reset_stats()
        read = """
            import json, sys
            import rp_jupyter
            ids = json.loads(sys.argv[1])
            outputs = [rp_jupyter.result(i) for i in ids]
            ep = rp_jupyter.Endpoint("local", base_url=sys.argv[2])
            assert ep.job(ids[0]).result() == outputs[0]
            print(json.dumps(outputs, ensure_ascii=False))
            """
        outputs = run_python(read, env, json.dumps(ids), server.base_url)
        for i, output in enumerate(outputs):
            assert json.dumps(output, ensure_ascii=False).encode() == json.dumps(
                blob_output(i), ensure_ascii=False).encode()
        assert server.request_count() == 0  # all of it from the journal
    finally:
        server.stop()


def test_a_job_streaming_when_its_process_is_killed_is_finished_by_the_next(env):
    server = start_local("chaos", workers=1)
    try:
        stream = """
            import json, sys
            import rp_jupyter
            ep = rp_jupyter.Endpoint("local", base_url=sys.argv[1])
            job = ep.run({"chunks": 16, "interval": 0.15})
            print(json.dumps({"id": job.id}), flush=True)
            for chunk in job.stream():
                print(json.dumps(chunk), flush=True)
            """
        child = spawn_python(stream, env, server.base_url)
        job_id = json.loads(child.stdout.readline())["id"]
        seen = [json.loads(child.stdout.readline()) for _ in range(5)]
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=10)
        assert child.returncode == -signal.SIGKILL
        record = JobJournal.open().find(job_id)
        assert not record.final and record.chunks()[:5] == seen

        finish = """
            import json, sys, time
            import rp_jupyter
            from rp_jupyter.jobs.journal import JobJournal
            rp_jupyter.Endpoint("local", base_url=sys.argv[2]).health()  # nobody asks for it
            journal, deadline = JobJournal.open(), time.monotonic() + 60
            while not journal.find(sys.argv[1]).final and time.monotonic() < deadline:
                time.sleep(0.05)
            print(json.dumps(rp_jupyter.result(sys.argv[1])))
            """
        output = run_python(finish, env, job_id, server.base_url)
        expected = [{"chunk": i} for i in range(16)] + [
            {"done": True, "slept": 0.0, "chunks": 16, "attempt": 1}]
        assert output == expected
        record = JobJournal.open().find(job_id)
        assert record.final and record.status == "COMPLETED" and record.chunks() == expected
    finally:
        server.stop()


def test_two_processes_write_into_one_journal_at_once(env, rp_home):
    server = start_local("echo", workers=2, rate_limits="off")
    try:
        fan_out = """
            import asyncio, json, sys
            import rp_jupyter
            ep = rp_jupyter.Endpoint("local", base_url=sys.argv[1])
            tag = sys.argv[2]

            async def main():
                jobs = await asyncio.gather(*(ep.arun({"p": tag, "i": i}) for i in range(200)))
                return await asyncio.gather(*(job.aresult(timeout=120) for job in jobs))

            outputs = asyncio.run(main())
            print(json.dumps(len(outputs)))
            """
        children = [spawn_python(fan_out, env, server.base_url, tag) for tag in ("a", "b")]
        for child in children:
            out, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
            assert out.strip().splitlines()[-1] == "200"
        records = JobJournal.open().list(limit=None)
        assert len(records) == 400
        assert all(r.final and r.status == "COMPLETED" for r in records)
        assert sorted((r.input["p"], r.input["i"]) for r in records) == sorted(
            (p, i) for p in "ab" for i in range(200))
        assert all(r.output() == {"echo": r.input} for r in records)
        assert len({r.job_id for r in records}) == 400
        with sqlite3.connect(rp_home / "journal.sqlite3") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        server.stop()


def test_a_job_another_live_process_follows_is_watched_and_read_from_the_journal(env):
    import rp_jupyter

    server = start_local("chaos", workers=1)
    try:
        owner = """
            import json, sys
            import rp_jupyter
            ep = rp_jupyter.Endpoint("local", base_url=sys.argv[1])
            job = ep.run({"chunks": 3, "interval": 0.4})
            print(json.dumps(job.id), flush=True)
            print(json.dumps(job.result(timeout=60)), flush=True)
            """
        child = spawn_python(owner, env, server.base_url)
        job_id = json.loads(child.stdout.readline())
        ep = rp_jupyter.Endpoint("local", base_url=server.base_url)
        job = ep.job(job_id)
        output = job.result(timeout=30)
        assert output == json.loads(child.stdout.readline())
        assert job.chunks == output  # read back from the journal the owner wrote
        sent = ep.runtime.client.connection.sent
        assert sent["stream"] == 0 and sent["status"] >= 1  # the owner streamed, not us
        child.communicate(timeout=30)
        assert child.returncode == 0
    finally:
        server.stop()
