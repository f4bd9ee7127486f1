from __future__ import annotations

import time

from rp_jupyter.api.models import JobStatus, StatusDocument
from rp_jupyter.notebook.display import present_job
from rp_jupyter.notebook.panel import JobPanel
from tests.notebook.fake_jobs import driven_job
from tests.notebook.recording import (
    WIDGET_VIEW,
    buttons,
    click,
    html_values,
    panel_display_id,
    wait_until,
)


def final_display(recorder, display_id, status):
    """The panel's latest display once it is the static rendering with ``status``."""

    def ready():
        latest = recorder.latest_display(display_id)
        static = latest and latest["kind"] == "update_display" and WIDGET_VIEW not in latest["data"]
        if static and status in latest["data"]["text/plain"].split("\n", 1)[0]:
            return latest
        return None

    return wait_until(ready, 20, f"a static {status} rendering")


def test_live_panel_streams_then_is_replaced_by_the_static_rendering(frontend, endpoint):
    rec = frontend.recorder
    words = " ".join(f"w{i}" for i in range(40))
    job = endpoint("ui-tokens").run({"prompt": words, "rate": 80})
    present_job(job, mode="live", block=False, read_as="JSON object (2 keys: prompt, rate)")
    shown = rec.of_kind("display")
    assert WIDGET_VIEW in shown[0]["data"] and job.id in shown[0]["data"]["text/plain"]
    assert WIDGET_VIEW in shown[1]["data"]  # the action bar
    final = final_display(rec, shown[0]["display_id"], "COMPLETED")
    assert set(final["data"]) == {"text/plain", "text/html"}
    assert words + " " in final["data"]["text/html"]
    assert "read as JSON object (2 keys: prompt, rate)" in final["data"]["text/html"]
    # while it ran, the panel's HTML widget showed the text growing
    live = [v for v in html_values(rec) if "w0 w1" in v and "COMPLETED" not in v]
    assert live, "no live update showed the streamed text"
    # the live view's widgets are closed once the static rendering is in place
    wait_until(lambda: len(rec.of_kind("comm_close")) >= 3, 5, "the live widgets to close")


def test_a_fast_stream_costs_about_20_messages_a_second_and_loses_no_chunk(frontend, endpoint):
    rec = frontend.recorder
    words = [f"w{i}" for i in range(3000)]
    job = endpoint("ui-tokens").run({"prompt": " ".join(words), "rate": 2000,
                                     "max_tokens": len(words)})
    panel = JobPanel(job)
    panel.show()
    final = final_display(rec, rec.of_kind("display")[0]["display_id"], "COMPLETED")
    sent = rec.updates() + rec.of_kind("update_display", "comm_close")
    assert rec.max_per_window(sent, 1.0) <= 25
    assert len(rec.updates()) >= 10  # it did stream, not just jump to the end
    assert job.chunk_count == len(words)
    assert "".join(f"{w} " for w in words) in final["data"]["text/html"]


def test_the_clock_refreshes_about_once_a_second_when_nothing_streams(frontend):
    rec = frontend.recorder
    job = driven_job()
    panel = JobPanel(job)
    start = time.monotonic()
    panel.show()
    html_id = panel.view.html.model_id
    wait_until(lambda: len(rec.updates({html_id})) >= 3, 6, "three clock updates")
    assert time.monotonic() - start >= 1.5  # one a second, not one a tick
    assert "queued 2 s" in panel.view.html.value or "queued 3 s" in panel.view.html.value
    job._finish(JobStatus.CANCELLED, StatusDocument(id=job.id, status=JobStatus.CANCELLED))


def test_cancel_button_cancels_the_job_on_the_local_endpoint(frontend, endpoint, local_server):
    rec = frontend.recorder
    job = endpoint("ui-chaos").run({"sleep": 30})
    present_job(job, mode="live", block=False)
    server_side = local_server.endpoint("ui-chaos")
    wait_until(
        lambda: server_side.job_record(job.id)["status"] == "IN_PROGRESS", 20, "the job to start"
    )
    click(rec, "Cancel")
    assert job.wait(15)
    assert job.status == JobStatus.CANCELLED
    assert server_side.job_record(job.id)["status"] == "CANCELLED"
    assert server_side.request_count("cancel", job.id) == 1
    final_display(rec, panel_display_id(rec, job.id), "CANCELLED")
    # the bar now offers to run it again
    wait_until(
        lambda: (
            buttons(rec, "Run again")
            and not rec.widgets[buttons(rec, "Run again")[0]].get("disabled")
        ),
        5,
        "Run again to be enabled",
    )


def test_retry_button_retries_a_failed_job_until_it_completes(frontend, endpoint, local_server):
    rec = frontend.recorder
    job = endpoint("ui-chaos").run({"fail_first": True, "chunks": 2})
    present_job(job, mode="live", block=False)
    display_id = panel_display_id(rec, job.id)
    final_display(rec, display_id, "FAILED")
    wait_until(lambda: buttons(rec, "Retry"), 5, "a Retry button")
    wait_until(
        lambda: not rec.widgets[buttons(rec, "Retry")[0]].get("disabled"), 5, "Retry to be enabled"
    )
    click(rec, "Retry")
    wait_until(lambda: job.attempt == 2, 15, "the retry to be accepted")
    assert job.wait(20) and job.status == JobStatus.COMPLETED
    assert local_server.endpoint("ui-chaos").request_count("retry", job.id) == 1
    final = final_display(rec, display_id, "COMPLETED")
    assert "attempt 2" in final["data"]["text/plain"]
    went_live_again = [
        m
        for m in rec.displays()
        if m.get("display_id") == display_id
        and m["kind"] == "update_display"
        and WIDGET_VIEW in m["data"]
    ]
    assert went_live_again, "the panel did not go live again for the retry"


def test_run_again_resubmits_the_same_input_as_a_new_job(frontend, endpoint, local_server):
    rec = frontend.recorder
    job = endpoint("ui-echo").run({"x": 7})
    job.result(20)
    panel = JobPanel(job)
    panel.show()
    assert "COMPLETED" in rec.of_kind("display")[0]["data"]["text/plain"]
    runs_before = local_server.endpoint("ui-echo").request_count("run")
    click(rec, "Run again")
    wait_until(lambda: len(panel.history) == 2 and panel.history[1].is_final, 20, "the rerun")
    fresh = panel.history[1]
    assert fresh.id != job.id and fresh.input == {"x": 7}
    assert fresh.result() == {"echo": {"x": 7}}
    assert local_server.endpoint("ui-echo").request_count("run") == runs_before + 1
    final = final_display(rec, rec.of_kind("display")[0]["display_id"], "COMPLETED")
    assert fresh.id in final["data"]["text/plain"]
    wait_until(lambda: f"run again of job {job.id}" in panel.note_html.value, 5, "the note")


def test_a_failing_button_action_is_reported_in_the_bar_not_raised(frontend):
    rec = frontend.recorder
    job = driven_job()  # no endpoint behind it: every action fails
    job._finish(JobStatus.FAILED, StatusDocument(id=job.id, status=JobStatus.FAILED, error="boom"))
    panel = JobPanel(job)
    panel.show()
    click(rec, "Retry")
    wait_until(lambda: "retry failed" in panel.note_html.value, 5, "the failure note")
    assert "without an endpoint" in panel.note_html.value
    assert not panel.again_button.disabled  # usable again


def test_picture_chunks_update_the_image_widget_frame_by_frame(frontend, endpoint):
    rec = frontend.recorder
    job = endpoint("ui-images").run({"steps": 4, "size": 24, "delay": 0.3})
    panel = JobPanel(job)
    panel.show()
    image_id = panel.view.image.model_id
    wait_until(
        lambda: [m for m in rec.updates({image_id}) if m["buffers"]],
        20,
        "a frame sent to the Image widget",
    )
    assert job.wait(20)
    final = final_display(rec, rec.of_kind("display")[0]["display_id"], "COMPLETED")
    assert "image/png" in final["data"]
    assert any("4/4" in v or "3/4" in v or "2/4" in v for v in html_values(rec))  # progress


def test_wait_blocks_until_final_and_leaves_the_static_rendering_in_place(frontend, endpoint):
    rec = frontend.recorder
    job = endpoint("ui-tokens").run({"prompt": "a b c d", "rate": 20})
    present_job(job, mode="live", block=True)
    assert job.is_final
    latest = rec.latest_display(panel_display_id(rec, job.id))
    assert latest["kind"] == "update_display" and WIDGET_VIEW not in latest["data"]
    assert "a b c d" in latest["data"]["text/html"]


def test_a_job_already_final_is_shown_static_at_once(frontend, endpoint):
    rec = frontend.recorder
    job = endpoint("ui-echo").run({"y": 1})
    job.result(20)
    present_job(job, mode="live", block=False)
    first = rec.of_kind("display")[0]
    assert WIDGET_VIEW not in first["data"] and "COMPLETED" in first["data"]["text/plain"]
