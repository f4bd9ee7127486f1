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
    press,
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
    assert len(shown) == 1  # one output: the view and its button row together
    assert WIDGET_VIEW in shown[0]["data"] and job.id in shown[0]["data"]["text/plain"]
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
    present_job(job, mode="live", block=False, name="long_job")
    server_side = local_server.endpoint("ui-chaos")
    wait_until(
        lambda: server_side.job_record(job.id)["status"] == "IN_PROGRESS", 20, "the job to start"
    )
    click(rec, "Cancel")
    assert job.wait(15)
    assert job.status == JobStatus.CANCELLED
    assert server_side.job_record(job.id)["status"] == "CANCELLED"
    assert server_side.request_count("cancel", job.id) == 1
    final = final_display(rec, panel_display_id(rec, job.id), "CANCELLED")
    # where the buttons were, a line says how to run it again, in magic syntax
    assert "%runpod rerun long_job" in final["data"]["text/plain"]
    assert "%runpod rerun long_job" in final["data"]["text/html"]


def test_a_final_panel_leaves_no_widget_in_the_cell(frontend, endpoint):
    rec = frontend.recorder
    job = endpoint("ui-tokens").run({"prompt": "a b c", "rate": 30})
    present_job(job, mode="live", block=False)
    display_id = panel_display_id(rec, job.id)
    final_display(rec, display_id, "COMPLETED")
    outputs = [m for m in rec.displays() if m["kind"] == "display"]
    assert [m["display_id"] for m in outputs] == [display_id]  # no second output (no bar)
    wait_until(lambda: not buttons(rec, "Cancel"), 5, "the Cancel button to be closed")
    opened = {m["comm_id"] for m in rec.of_kind("comm_open")}
    wait_until(lambda: opened <= {m["comm_id"] for m in rec.of_kind("comm_close")},
               5, "every widget of the live panel to be closed")


def test_a_panel_follows_its_job_through_a_retry_made_elsewhere(frontend, endpoint, local_server):
    rec = frontend.recorder
    job = endpoint("ui-chaos").run({"fail_first": True, "chunks": 2})
    present_job(job, mode="live", block=False, name="flaky")
    display_id = panel_display_id(rec, job.id)
    failed = final_display(rec, display_id, "FAILED")
    assert "%runpod retry flaky" in failed["data"]["text/plain"]
    job.retry()  # as %runpod retry or the jobs table would, from another cell
    assert job.wait(20) and job.status == JobStatus.COMPLETED
    final = final_display(rec, display_id, "COMPLETED")
    assert "attempt 2" in final["data"]["text/plain"]
    assert local_server.endpoint("ui-chaos").request_count("retry", job.id) == 1
    went_live_again = [
        m
        for m in rec.displays()
        if m.get("display_id") == display_id
        and m["kind"] == "update_display"
        and WIDGET_VIEW in m["data"]
    ]
    assert went_live_again, "the panel did not go live again for the retry"


def test_a_stale_cancel_acts_on_the_job_as_it_is_now(frontend, endpoint, local_server):
    job = endpoint("ui-chaos").run({"sleep": 30})
    panel = JobPanel(job)
    panel.show()
    cancel_button = panel.cancel_button
    job.cancel()  # elsewhere: %runpod cancel, another panel
    assert job.wait(15) and job.status == JobStatus.CANCELLED
    press(cancel_button)  # a click that reaches the kernel after that
    wait_until(lambda: "already CANCELLED" in (panel.note or ""), 5, "the note")
    assert local_server.endpoint("ui-chaos").request_count("cancel", job.id) == 1


def test_a_failing_button_action_is_reported_in_the_bar_not_raised(frontend):
    job = driven_job()  # no endpoint behind it: cancelling fails
    panel = JobPanel(job)
    panel.show()
    click(frontend.recorder, "Cancel")
    wait_until(lambda: "cancel failed" in panel.note_html.value, 5, "the failure note")
    assert "without an endpoint" in panel.note_html.value
    assert not panel.cancel_button.disabled  # usable again
    job._finish(JobStatus.CANCELLED, StatusDocument(id=job.id, status=JobStatus.CANCELLED))


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
