"""The one-line ``%runpod`` commands, in a real IPython shell against the local endpoint."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from IPython.core.error import UsageError

from rp_jupyter.api.models import JobStatus
from tests.notebook.magic_shell import total_requests
from tests.waiting import wait_for

KEY = "rpa_TOPSECRET_0123456789"


def submit(ip, endpoint, body, flags="--no-wait"):
    run = ip.run(f"%%runpod run {endpoint} {flags}\n{body}")
    assert run.error is None, run.stderr
    return run.value


def test_help_for_each_command_lists_its_flags(ip):
    run = ip.run("%runpod help run")
    for flag in ("--format", "--text-key", "--dry-run", "--sync", "--wait", "--no-wait", "--out",
                 "--timeout", "--ttl", "--low-priority", "--webhook", "--cache", "--base-url",
                 "--sweep"):
        assert flag in run.stdout
    assert "--yes" in ip.run("%runpod purge --help").stdout


def test_unknown_command_suggests_a_close_one(ip):
    run = ip.run("%runpod helth")
    assert isinstance(run.error, UsageError)
    assert "did you mean 'health'" in str(run.error)


def test_endpoint_sets_and_shows_the_default(ip, local):
    assert "No default endpoint" in ip.run("%runpod endpoint").stdout
    ip.run("%runpod endpoint echo")
    assert f"Default endpoint: echo at {local.base_url}" in ip.run("%runpod endpoint").stdout
    job = submit(ip, "", '{"via": "default"}')
    assert job.endpoint_id == "echo"
    assert job.result(timeout=30) == {"echo": {"via": "default"}}


def test_config_shows_values_sources_and_never_the_key(ip, local, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", KEY)
    ip.run("%config RunpodMagics.text_key = 'question'")
    ip.run("%runpod endpoint echo")
    report = ip.run("%runpod config").value
    text = repr(report) + report._repr_html_()
    assert KEY not in text
    settings = report.settings
    assert settings["default_endpoint"].value == "echo"
    assert settings["default_endpoint"].source == "%runpod endpoint"
    assert settings["text_key"].value == "question"
    assert settings["text_key"].source.startswith("config")
    assert settings["base_url"].source == "environment (RUNPOD_ENDPOINT_BASE_URL)"
    assert settings["api_key"].value == "set (hidden)"


def test_config_traitlet_beats_environment(ip, local, monkeypatch):
    monkeypatch.setenv("RUNPOD_ENDPOINT_ID", "tokens")
    assert ip.magics.settings()["default_endpoint"] == "tokens"
    ip.run("%config RunpodMagics.default_endpoint = 'echo'")
    assert ip.magics.settings()["default_endpoint"] == "echo"


def test_login_keeps_the_key_in_memory_and_never_echoes_it(ip, local, monkeypatch):
    import getpass

    asked = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": asked.append(prompt) or KEY)
    run = ip.run("%runpod login")
    assert asked == ["Runpod API key: "]
    assert KEY not in run.stdout + run.stderr
    assert ip.magics.api_key() == KEY
    config = ip.run("%runpod config").value
    assert config.settings["api_key"].source == "%runpod login"
    assert KEY not in repr(config) + repr(ip.magics.session_key)
    ip.run("%runpod logout")
    assert ip.magics.api_key() is None


def test_status_of_the_last_job(ip, local):
    job = submit(ip, "echo", '{"s": 1}')
    job.result(timeout=30)
    shown = ip.run("%runpod status").value
    assert shown is job and shown.status is JobStatus.COMPLETED


def test_status_by_variable_and_by_id(ip, local):
    job = submit(ip, "echo", '{"s": 2}', flags="-o first --no-wait")
    submit(ip, "echo", '{"s": 3}')
    assert ip.run("%runpod status first").value is job
    assert ip.run(f"%runpod status {job.id}").value is job
    assert ip.run(f"%runpod status {job.id[:10]}").value is job


def test_cancel_stops_a_running_job_on_the_endpoint(ip, local):
    job = submit(ip, "chaos", '{"sleep": 60}')
    handle = local.endpoint("chaos")
    wait_for(lambda: (handle.job_record(job.id) or {}).get("status") == "IN_PROGRESS",
             what="the job to start")
    run = ip.run("%runpod cancel")
    assert "Cancelled job" in run.stdout
    assert handle.job_record(job.id)["status"] == "CANCELLED"
    assert job.status is JobStatus.CANCELLED


def test_cancel_all_cancels_every_unfinished_job(ip, local):
    jobs = [submit(ip, "chaos", '{"sleep": 60}') for _ in range(3)]
    run = ip.run("%runpod cancel --all")
    assert "Cancelled 3" in run.stdout
    handle = local.endpoint("chaos")
    assert all(handle.job_record(j.id)["status"] == "CANCELLED" for j in jobs)


def test_retry_requeues_a_failed_job_under_the_same_id(ip, local):
    job = submit(ip, "chaos", '{"fail_first": true}')
    job.wait(30)
    assert job.status is JobStatus.FAILED
    run = ip.run("%runpod retry")
    assert run.error is None, run.stderr
    assert run.value is job
    job.wait(30)
    assert job.status is JobStatus.COMPLETED


def test_retry_refuses_a_completed_job_with_a_hint(ip, local):
    job = submit(ip, "echo", '{"r": 1}')
    job.result(timeout=30)
    before = total_requests(local)
    run = ip.run("%runpod retry")
    assert isinstance(run.error, UsageError)
    assert "only FAILED or TIMED_OUT" in str(run.error)
    assert "%runpod rerun JOB" in str(run.error) and "job.rerun()" not in str(run.error)
    assert total_requests(local) == before


def test_rerun_sends_the_input_again_and_binds_the_new_job_to_underscore_and_the_name(ip, local):
    run = ip.run('%%runpod run echo -o first --wait\n{"again": 1}')
    assert run.error is None, run.stderr
    old = ip.user_ns["first"]
    runs_before = local.endpoint("echo").request_count("run")
    ip.run("x = 1")  # another cell ran in between
    run = ip.run("%runpod rerun first")
    assert run.error is None, run.stderr
    fresh = run.value
    assert fresh.id != old.id and fresh.input == {"again": 1}
    assert ip.user_ns["_"] is fresh and ip.user_ns["first"] is fresh
    assert fresh.result(timeout=30) == {"echo": {"again": 1}}
    assert local.endpoint("echo").request_count("run") == runs_before + 1


def test_result_works_after_the_server_has_forgotten_the_job(ip, local):
    job = submit(ip, "chaos", '{"chunks": 2}')  # chaos keeps results 3 s
    job.wait(30)
    handle = local.endpoint("chaos")
    wait_for(lambda: handle.job_record(job.id) is None, timeout=30, what="the result to expire")
    assert ip.run(f"%runpod result {job.id}").value == [{"chunk": 0}, {"chunk": 1},
                                                         {"done": True, "slept": 0, "chunks": 2,
                                                          "attempt": 1}]


def _fresh_session(ip):
    """As after a kernel restart: no job of this session, no endpoint set."""
    ip.magics.session_jobs.clear()
    ip.magics.set_trait("default_endpoint", None, "test")


def test_result_after_a_restart_reads_an_id_prefix_from_the_journal_with_no_endpoint(
        ip, local, monkeypatch):
    job = submit(ip, "echo", '{"kept": "yes"}')
    assert job.result(timeout=30) == {"echo": {"kept": "yes"}}
    _fresh_session(ip)
    monkeypatch.delenv("RUNPOD_ENDPOINT_BASE_URL")  # no endpoint can be reached either
    before = total_requests(local)
    run = ip.run(f"%runpod result {job.id[:8]}")
    assert run.error is None, run.error
    assert run.value == {"echo": {"kept": "yes"}}
    assert f"Result of job {job.id} on endpoint echo, read from the journal" in run.stdout
    assert total_requests(local) == before


def test_result_of_an_unknown_id_says_the_journal_has_none_and_asks_nothing(ip, local):
    before = total_requests(local)
    run = ip.run("%runpod result deadbeef")
    assert isinstance(run.error, UsageError)
    assert "no job 'deadbeef' in the journal" in str(run.error)
    assert "%runpod jobs" in str(run.error) and "rp_jupyter.result" not in str(run.error)
    assert total_requests(local) == before


def test_bare_result_in_a_new_session_is_the_newest_job_of_the_journal(ip, local):
    submit(ip, "echo", '{"n": 1}').result(timeout=30)
    newest = submit(ip, "echo", '{"n": 2}')
    newest.result(timeout=30)
    _fresh_session(ip)
    run = ip.run("%runpod result")
    assert run.error is None, run.error
    assert run.value == {"echo": {"n": 2}}
    assert newest.id in run.stdout


def test_result_of_a_failed_job_is_its_error_message(ip, local):
    submit(ip, "chaos", '{"fail": "boom here"}').wait(30)
    run = ip.run("%runpod result")
    assert isinstance(run.error, UsageError)
    assert "boom here" in str(run.error)


def test_purge_needs_yes_and_sends_nothing_without_it(ip, local):
    run = ip.run("%runpod purge echo")
    assert isinstance(run.error, UsageError) and "--yes" in str(run.error)
    assert total_requests(local) == 0
    run = ip.run("%runpod purge echo --yes")
    assert "Removed 0 queued job(s)" in run.stdout
    assert local.endpoint("echo").request_count(op="purge-queue") == 1


def test_health_shows_the_counters(ip, local):
    run = ip.run("%runpod health echo")
    assert run.error is None, run.stderr
    assert local.endpoint("echo").request_count(op="health") == 1


def test_jobs_lists_the_journal(ip, local):
    submit(ip, "echo", '{"j": 1}').result(timeout=30)
    run = ip.run("%runpod jobs --endpoint echo --last 1h")
    assert run.error is None, run.stderr


def test_local_starts_an_endpoint_and_makes_it_the_default(ip):
    run = ip.run("%runpod local echo --id mine --workers 2")
    assert run.error is None, run.stderr
    assert "is now the default endpoint" in run.stdout
    assert ip.magics.settings()["default_endpoint"] == "mine"
    job = submit(ip, "", '{"local": true}')
    assert job.result(timeout=30) == {"echo": {"local": True}}
    assert ip.run("%runpod local --stop").stdout.startswith("Stopped local endpoint(s): mine")
    assert ip.magics.settings()["default_endpoint"] is None


def test_local_runs_a_handler_defined_in_the_notebook(ip):
    ip.run("def shout(job):\n    return job['input']['text'].upper()")
    run = ip.run("%runpod local shout")
    assert run.error is None, run.stderr
    job = submit(ip, "shout", '{"text": "quiet"}')
    assert job.result(timeout=30) == "QUIET"
    ip.run("%runpod local --stop")


@pytest.mark.timeout(60)
def test_interrupting_a_blocking_cell_cancels_the_job(ip, local):
    handle = local.endpoint("chaos")

    def interrupt_when_running():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            jobs = ip.magics.session_jobs  # the cell holds its job: it is waiting on it
            record = handle.job_record(jobs[-1].id) if jobs else None
            if record and record["status"] == "IN_PROGRESS":
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=interrupt_when_running)
    thread.start()
    run = ip.run('%%runpod run chaos --wait\n{"sleep": 60}')
    thread.join()
    assert isinstance(run.error, KeyboardInterrupt)
    job = ip.magics.session_jobs[-1]
    assert job.status == "CANCELLED"
    assert handle.job_record(job.id)["status"] == "CANCELLED"
    assert "cancelled job" in (run.stdout + run.stderr).lower()


def test_config_shows_the_local_url_for_a_local_default_endpoint(ip):
    ip.run("%runpod local echo --id here")
    try:
        settings = ip.run("%runpod config").value.settings
        assert settings["base_url"].value == ip.magics.local.base_url_for("here")
        assert settings["base_url"].source == "%runpod local (here)"
    finally:
        ip.run("%runpod local --stop")


def test_python_helpers_given_an_id_use_the_local_endpoint_started_by_the_magic(ip):
    ip.run("%runpod local echo --id swept")
    try:
        run = ip.run("import rp_jupyter\n"
                     "rows = rp_jupyter.sweep('swept', {'q': 1}, wait=True, a=[1, 2]).result(30)")
        assert run.error is None, run.stderr
        rows = ip.user_ns["rows"]
        records = rows.to_dict("records") if hasattr(rows, "to_dict") else rows
        assert sorted(r["output"]["echo"]["a"] for r in records) == [1, 2]
    finally:
        ip.run("%runpod local --stop")


def test_no_wait_in_a_terminal_prints_a_note_and_a_one_line_value(ip, local):
    run = ip.run('%%runpod run chaos --no-wait\n{"sleep": 30}')
    job = run.value
    assert not job.is_final
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 2, lines  # no stale snapshot of the job below the note
    assert lines[0].startswith(f"Submitted job {job.id} to endpoint chaos")
    assert lines[1].startswith(f"Out[1]: <Job {job.id[:8]}… endpoint='chaos'")
    job.cancel()


def test_replay_plays_a_journaled_stream_at_its_pace_with_no_endpoint(ip, local, monkeypatch):
    run = ip.run('%%runpod run chaos --wait -o original\n{"chunks": 6, "interval": 0.3}')
    assert run.error is None, run.stderr
    original = ip.user_ns["original"]
    took = original.finished_at - original.submitted_at
    _fresh_session(ip)
    monkeypatch.delenv("RUNPOD_ENDPOINT_BASE_URL")
    before = total_requests(local)
    run = ip.run(f"%runpod replay {original.id[:8]} --speed 2")
    assert run.error is None, run.error
    replayed = run.value
    assert replayed.chunks == original.chunks and replayed.status == "COMPLETED"
    assert replayed.result() == original.result()
    ratio = (replayed.finished_at - replayed.submitted_at) / took
    assert 0.3 < ratio < 0.8, ratio  # about half the original time, at --speed 2
    assert "replayed from the journal at 2×" in run.stdout
    assert total_requests(local) == before  # nothing was asked of any endpoint


def test_replay_refuses_a_bad_speed_and_an_unfinished_job(ip, local):
    submit(ip, "echo", '{"n": 1}').result(timeout=30)
    for speed in ("0", "nan", "fast"):
        run = ip.run(f"%runpod replay --speed {speed}")
        assert isinstance(run.error, UsageError) and "--speed" in str(run.error)
    job = submit(ip, "chaos", '{"sleep": 30}')
    run = ip.run(f"%runpod replay {job.id}")
    assert isinstance(run.error, UsageError) and "only a finished job" in str(run.error)
    job.cancel()


def test_present_hides_ids_and_timings_and_enlarges_text(ip, local):
    from rp_jupyter.notebook.static import static_bundle

    job = submit(ip, "echo", '{"n": 1}')
    job.result(timeout=30)
    assert "Presenting" in ip.run("%runpod present on").stdout
    try:
        shown = static_bundle(job)
        assert job.id not in shown["text/plain"] and job.id[:8] not in shown["text/html"]
        assert "total" not in shown["text/plain"].splitlines()[0]
        assert "font-size:19.5px" in shown["text/html"]  # 13 px, enlarged
        table = ip.run("%runpod jobs --limit 1").stdout.splitlines()
        header = table[0].split()
        assert header[:3] == ["ENDPOINT", "STATUS", "CREATED"] and header[-1] == "OUTPUT"
        assert not {"JOB", "QUEUE", "RUN"} & set(header)
        assert job.id not in table[1]
    finally:
        assert "Not presenting" in ip.run("%runpod present off").stdout
    shown = static_bundle(job)
    assert job.id in shown["text/plain"] and "font-size:13px" in shown["text/html"]
