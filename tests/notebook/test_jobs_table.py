from __future__ import annotations

import time

from rp_jupyter.api.models import JobStatus
from rp_jupyter.jobs.endpoint import Endpoint
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.notebook import jobs_table
from rp_jupyter.notebook.jobs_table import JobsTable, show_jobs_table
from rp_jupyter.notebook.ticker import ticker
from tests.notebook.recording import WIDGET_VIEW, press, wait_until


def endpoint_for(record):
    return Endpoint(record.endpoint_id, base_url=record.base_url)


def records():
    journal = JobJournal.open()
    journal.flush()
    return journal.list()


def test_static_table_lists_status_times_and_an_output_preview(frontend, endpoint, capsys,
                                                                monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # a wide terminal: nothing to cut
    streamed = endpoint("ui-tokens").run({"prompt": "streamed words here", "rate": 0})
    streamed.result(20)
    done = endpoint("ui-echo").run({"q": "hello"})
    failed = endpoint("ui-chaos").run({"fail": "broken on purpose"})
    done.result(20)
    failed.wait(20)
    assert show_jobs_table(records(), mode="terminal", endpoint_for=endpoint_for) is None
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["JOB", "ENDPOINT", "STATUS", "CREATED"]
    (done_line,) = [line for line in lines if done.id in line]
    assert "COMPLETED" in done_line and "hello" in done_line and " s " in done_line
    (failed_line,) = [line for line in lines if failed.id in line]
    assert "FAILED" in failed_line and "RuntimeError: broken on purpose" in failed_line
    (streamed_line,) = [line for line in lines if streamed.id in line]
    assert streamed_line.endswith("streamed words here ")  # the text, not the empty output
    show_jobs_table(records(), mode="headless", endpoint_for=endpoint_for)
    (shown,) = frontend.recorder.of_kind("display")
    assert WIDGET_VIEW not in shown["data"] and shown["data"]["text/html"].count("<tr>") == 4


def test_an_empty_journal_says_so(frontend, capsys):
    show_jobs_table([], mode="terminal", endpoint_for=endpoint_for)
    assert capsys.readouterr().out.strip() == "no jobs in the journal"


def test_row_cancel_cancels_the_job_on_the_local_endpoint(frontend, endpoint, local_server):
    server_side = local_server.endpoint("ui-chaos")
    job = endpoint("ui-chaos").run({"sleep": 30})
    wait_until(
        lambda: server_side.job_record(job.id)["status"] == "IN_PROGRESS", 20, "the job to start"
    )
    table = show_jobs_table(records(), mode="live", endpoint_for=endpoint_for)
    assert isinstance(table, JobsTable)
    (row,) = [r for r in table.rows if r.record.job_id == job.id]
    assert set(row.buttons) == {"cancel", "open"}
    press(row.buttons["cancel"])
    wait_until(
        lambda: server_side.job_record(job.id)["status"] == "CANCELLED",
        15,
        "the server to cancel it",
    )
    assert server_side.request_count("cancel", job.id) == 1
    wait_until(lambda: "CANCELLED" in row.html.value, 10, "the row to show CANCELLED")
    wait_until(lambda: row.buttons["cancel"].disabled, 5, "Cancel to be disabled")


def test_row_retry_retries_a_failed_job(frontend, endpoint, local_server):
    job = endpoint("ui-chaos").run({"fail_first": True})
    assert job.wait(20) and job.status == JobStatus.FAILED
    table = show_jobs_table(records(), mode="live", endpoint_for=endpoint_for)
    (row,) = [r for r in table.rows if r.record.job_id == job.id]
    assert set(row.buttons) == {"retry", "open"}
    press(row.buttons["retry"])
    wait_until(
        lambda: row.job is not None and row.job.status == JobStatus.COMPLETED,
        20,
        "the retried job to complete",
    )
    assert local_server.endpoint("ui-chaos").request_count("retry", job.id) == 1
    wait_until(
        lambda: "COMPLETED" in row.html.value and "&quot;attempt&quot;: 2" in row.html.value,
        10,
        "the row to show the completed retry",
    )
    assert "failing the first attempt" not in row.html.value
    assert row.buttons["retry"].disabled


def test_row_open_shows_that_jobs_panel_below_the_table(frontend, endpoint):
    job = endpoint("ui-tokens").run({"prompt": "opened from the table", "rate": 0})
    job.result(20)
    table = show_jobs_table(records(), mode="live", endpoint_for=endpoint_for)
    (row,) = table.rows
    press(row.buttons["open"])
    wait_until(lambda: table.view is not None and table.detail.children, 10, "the panel")
    wait_until(
        lambda: "opened from the table" in table.view.html.value,
        10,
        "the job's output in the panel",
    )
    assert job.id in table.view.html.value


def test_in_a_terminal_the_table_fits_the_terminal_width(frontend, endpoint, capsys, monkeypatch):
    job = endpoint("ui-echo").run({"q": "a long question " * 20})
    job.result(20)
    monkeypatch.setenv("COLUMNS", "72")
    show_jobs_table(records(), mode="terminal", endpoint_for=endpoint_for)
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(len(line) <= 72 for line in lines), lines
    assert lines[1].endswith("…")  # the long output was cut, and says so
    assert lines[1].startswith(job.id[:8] + " ") and job.id not in lines[1]  # a short id
    monkeypatch.setenv("COLUMNS", "400")
    show_jobs_table(records(), mode="terminal", endpoint_for=endpoint_for)
    assert job.id in capsys.readouterr().out  # room enough for the whole id


def test_the_live_table_leaves_its_static_view_once_the_next_cell_runs(frontend, endpoint):
    done = endpoint("ui-echo").run({"q": "kept"})
    done.result(20)
    frontend.shell.user_ns.update(show=show_jobs_table, records=records,
                                  endpoint_for=endpoint_for)
    frontend.run_cell("table = show(records(), mode='live', endpoint_for=endpoint_for)")
    (shown,) = frontend.recorder.of_kind("display")
    assert WIDGET_VIEW in shown["data"]
    table = frontend.shell.user_ns["table"]
    frontend.run_cell("x = 1")  # the reader moves on
    final = wait_until(lambda: (m := frontend.recorder.latest_display(shown["display_id"]))
                       and m["kind"] == "update_display" and m, 5, "the static table")
    assert WIDGET_VIEW not in final["data"]
    assert done.id in final["data"]["text/plain"] and "<table" in final["data"]["text/html"]
    wait_until(lambda: all(b.comm is None for r in table.rows for b in r.buttons.values()),
               5, "the buttons to be closed")


def test_a_tick_rebuilds_only_the_rows_that_changed(frontend, endpoint, local_server,
                                                    monkeypatch):
    from rp_jupyter.jobs.journal_records import JobRecord

    streamed = [endpoint("ui-tokens").run({"prompt": f"row {n} words", "rate": 0})
                for n in range(3)]
    failed = endpoint("ui-chaos").run({"fail_first": True})
    for job in streamed:
        job.result(20)
    assert failed.wait(20) and failed.status == JobStatus.FAILED
    reads: list[int] = []
    read_chunks = JobRecord.chunks
    monkeypatch.setattr(JobRecord, "chunks",
                        lambda record: reads.append(record.key) or read_chunks(record))
    table = show_jobs_table(records(), mode="live", endpoint_for=endpoint_for)
    # a finished stream's preview is journaled with it: building the table reads no chunks
    assert reads == [] and all("words" in r.html.value for r in table.rows
                               if r.record.job_id != failed.id)
    (retried,) = [r for r in table.rows if r.record.job_id == failed.id]
    others = {r.html.comm.comm_id for r in table.rows if r is not retried}
    others |= {b.comm.comm_id for r in table.rows if r is not retried
               for b in r.buttons.values()}
    before = len(frontend.recorder.updates())
    press(retried.buttons["retry"])
    wait_until(lambda: "COMPLETED" in retried.html.value, 20, "the retried row to complete")
    for _ in range(5):  # ticks with nothing new: nothing is rebuilt or sent
        assert table.tick(time.monotonic()) in (True, False)
    sent = frontend.recorder.updates()[before:]
    assert {m["comm_id"] for m in sent} & {retried.html.comm.comm_id}
    assert not [m for m in sent if m["comm_id"] in others]
    assert reads == []  # no tick read a record's chunks


def test_a_tick_with_nothing_changed_sends_nothing(frontend, endpoint, monkeypatch):
    for n in range(4):
        endpoint("ui-tokens").run({"prompt": f"quiet {n}", "rate": 0}).result(20)
    table = show_jobs_table(records(), mode="live", endpoint_for=endpoint_for)
    wait_until(lambda: table not in ticker(), 5, "the table to leave the ticker")
    before = len(frontend.recorder.snapshot())
    built: list[int] = []
    original = jobs_table._row_html
    monkeypatch.setattr(jobs_table, "_row_html",
                        lambda *a, **k: built.append(1) or original(*a, **k))
    for _ in range(10):
        table.tick(time.monotonic())
    assert built == [] and len(frontend.recorder.snapshot()) == before
