from __future__ import annotations

import _thread
import sys
import threading

import nbformat
import pytest
from nbclient import NotebookClient

from rp_jupyter.api.models import JobStatus
from rp_jupyter.notebook.display import (
    present_job,
    register_job_display,
    unregister_job_display,
)
from tests.notebook.fake_jobs import driven_job
from tests.notebook.recording import WIDGET_VIEW, panel_display_id, wait_until


def main_thread_waits() -> bool:
    """True while the main thread is inside the blocking wait of ``present_job``."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None:
        if frame.f_code.co_name == "wait_interruptibly":
            return True
        frame = frame.f_back
    return False


def interrupt_when(predicate, timeout=20.0):
    """Raise KeyboardInterrupt in the main thread (as Ctrl-C would) once ``predicate``
    holds and the main thread is waiting for the job."""

    def watch():
        wait_until(lambda: predicate() and main_thread_waits(), timeout, "the moment to interrupt")
        _thread.interrupt_main()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_job_presented_and_returned_by_the_same_cell_is_shown_once(frontend, endpoint):
    register_job_display(frontend.shell)
    try:
        frontend.shell.user_ns.update(ep=endpoint("ui-echo"), present_job=present_job)
        frontend.run_cell("job = ep.run({'a': 1})\npresent_job(job, mode='live', block=False)\njob")
        assert len(frontend.recorder.of_kind("display")) == 1  # the panel (its buttons inside)
        frontend.run_cell("job")  # a later cell showing the job again gets a panel
        shown = frontend.recorder.of_kind("display")
        assert len(shown) == 2
        job = frontend.shell.user_ns["job"]
        assert job.id in shown[1]["data"]["text/plain"]
    finally:
        unregister_job_display(frontend.shell)
    frontend.run_cell("job")  # unregistered: the plain repr again, through the display hook
    assert len(frontend.recorder.of_kind("display")) == 2


def test_a_job_as_a_value_outside_a_live_frontend_is_its_static_rendering(frontend, endpoint):
    frontend.set_mode("headless")
    register_job_display(frontend.shell)
    try:
        job = endpoint("ui-echo").run({"b": 2})
        job.result(20)
        frontend.shell.user_ns["job"] = job
        frontend.run_cell("display(job)")
        (shown,) = frontend.recorder.of_kind("display")
        assert WIDGET_VIEW not in shown["data"]
        assert "COMPLETED" in shown["data"]["text/plain"] and "echo" in shown["data"]["text/html"]
    finally:
        unregister_job_display(frontend.shell)


def test_terminal_mode_prints_a_few_lines_the_streamed_text_and_the_end(frontend, endpoint, capsys):
    job = endpoint("ui-tokens").run({"prompt": "one two three", "rate": 30})
    present_job(job, mode="terminal", block=True)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"runpod: job {job.id} on ui-tokens:")
    assert "one two three " in out
    assert lines[-1].startswith("runpod: COMPLETED")
    assert out.count("one two three") == 1  # streamed, not printed again
    assert "\r" not in out
    assert not frontend.recorder.of_kind("comm_open")  # no widgets in a terminal


def test_terminal_mode_prints_a_json_output_and_a_failure(frontend, endpoint, capsys):
    job = endpoint("ui-echo").run({"n": 5})
    present_job(job, mode="terminal", block=True)
    assert '"echo": {' in capsys.readouterr().out
    failed = endpoint("ui-chaos").run({"fail": "nope"})
    present_job(failed, mode="terminal", block=True)
    out = capsys.readouterr().out
    assert "runpod: FAILED" in out and "RuntimeError: nope" in out and "details:" in out


def test_headless_mode_blocks_and_ends_with_the_final_static_rendering(frontend, endpoint):
    frontend.set_mode("headless")
    job = endpoint("ui-tokens").run({"prompt": "x y z", "rate": 10})
    present_job(job, mode="headless", block=False)  # headless always blocks
    assert job.is_final
    displays = frontend.recorder.displays()
    assert all(WIDGET_VIEW not in m["data"] for m in displays)
    display_id = displays[0]["display_id"]
    latest = frontend.recorder.latest_display(display_id)
    assert latest["kind"] == "update_display" and "x y z" in latest["data"]["text/html"]
    assert "COMPLETED" in latest["data"]["text/plain"]
    assert len(displays) <= 6  # throttled: about one update a second, not one per chunk


def test_interrupting_a_blocking_cell_cancels_the_job(frontend, endpoint, local_server, capsys):
    server_side = local_server.endpoint("ui-chaos")
    job = endpoint("ui-chaos").run({"sleep": 30})
    interrupt_when(lambda: server_side.job_record(job.id)["status"] == "IN_PROGRESS")
    with pytest.raises(KeyboardInterrupt) as raised:
        present_job(job, mode="live", block=True)
    assert job.status == JobStatus.CANCELLED
    assert server_side.job_record(job.id)["status"] == "CANCELLED"
    assert str(raised.value) == f"Interrupted: cancelled job {job.id} on endpoint ui-chaos"
    latest = frontend.recorder.latest_display(panel_display_id(frontend.recorder, job.id))
    assert latest["kind"] == "update_display" and "CANCELLED" in latest["data"]["text/plain"]


def test_interrupting_a_terminal_wait_cancels_and_prints_the_end(
    frontend, endpoint, local_server, capsys
):
    server_side = local_server.endpoint("ui-chaos")
    job = endpoint("ui-chaos").run({"sleep": 30})
    interrupt_when(lambda: server_side.job_record(job.id)["status"] == "IN_PROGRESS")
    with pytest.raises(KeyboardInterrupt) as raised:
        present_job(job, mode="terminal", block=True)
    out = capsys.readouterr().out
    assert "runpod: CANCELLED" in out
    assert str(raised.value) == f"Interrupted: cancelled job {job.id} on endpoint ui-chaos"


def test_nbclient_run_keeps_only_the_final_static_rendering(local_server, tmp_path):
    setup = (
        "from rp_jupyter import Endpoint\n"
        "from rp_jupyter.notebook.context import display_mode\n"
        "from rp_jupyter.notebook.display import present_job\n"
        f"ep = Endpoint('ui-tokens', base_url={local_server.base_url!r})"
    )
    run = (
        "job = ep.run({'prompt': 'saved for later', 'rate': 15})\n"
        "present_job(job, mode=display_mode(), block=False)"
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(run)]
    NotebookClient(nb, timeout=60, startup_timeout=60, kernel_name="python3").execute()
    outputs = nb.cells[1].outputs
    assert len(outputs) == 1
    (output,) = outputs
    assert output.output_type == "display_data"
    assert WIDGET_VIEW not in output.data
    assert "COMPLETED" in output.data["text/plain"]
    assert "saved for later" in output.data["text/html"]


def test_the_terminal_prints_every_chunk_and_skips_none(monkeypatch):
    import io

    from rp_jupyter.notebook.text_status import TextStatus

    monkeypatch.setenv("COLUMNS", "60")
    job = driven_job()
    out = io.StringIO()
    status = TextStatus(job, out=out)
    status.start()
    job._add_chunks([{"step": i, "note": "x" * 80} for i in range(10)])  # one poll's worth
    status.poll()
    job._add_chunks([{"step": 10}])
    status.poll()
    lines = out.getvalue().splitlines()
    shown = [line for line in lines if line.startswith("  chunk #")]
    assert [line.split(":")[0] for line in shown] == [f"  chunk #{i}" for i in range(11)]
    assert not any("more chunks" in line for line in lines)
    assert all(len(line) <= 60 for line in shown)  # fitted to the terminal
