from __future__ import annotations

import base64
import io

from PIL import Image

from rp_jupyter.api.models import JobStatus, StatusDocument
from rp_jupyter.local import LocalEndpoint
from rp_jupyter.notebook.static import final_value, static_bundle
from rp_jupyter.notebook.stream_state import StreamState, progress_of
from tests.notebook.fake_jobs import driven_job


def test_completed_text_stream_renders_header_above_the_joined_text(endpoint):
    job = endpoint("ui-tokens").run({"prompt": "alpha beta gamma", "rate": 0})
    job.result(30)
    bundle = static_bundle(job)
    assert set(bundle) == {"text/plain", "text/html"}
    html = bundle["text/html"]
    assert html.index(job.id) < html.index("COMPLETED") < html.index("alpha beta gamma")
    assert "ui-tokens" in html and "execution" in html
    first, rest = bundle["text/plain"].split("\n", 1)
    assert job.id in first and "COMPLETED" in first and "ui-tokens" in first
    assert rest == "alpha beta gamma "


def test_failed_job_shows_a_readable_error_with_the_traceback_folded(endpoint):
    job = endpoint("ui-chaos").run({"fail": "the model is on fire"})
    assert job.wait(30)
    html = static_bundle(job)["text/html"]
    summary_at = html.index("RuntimeError: the model is on fire")
    details_at = html.index("<summary", summary_at)
    assert ">details</summary>" in html[details_at : details_at + 200]
    assert "Traceback" not in html[:details_at]  # the traceback is folded away
    assert "Traceback (most recent call last)" in html[details_at:]
    plain = static_bundle(job)["text/plain"]
    assert "FAILED" in plain and "RuntimeError: the model is on fire" in plain


def test_picture_stream_ends_with_its_last_frame_as_image_png(endpoint):
    job = endpoint("ui-images").run({"steps": 3, "size": 32, "delay": 0, "seed": 4})
    job.result(30)
    value = final_value(job)
    assert isinstance(value, dict) and value["step"] == 3
    bundle = static_bundle(job)
    png = base64.b64decode(bundle["image/png"])
    assert Image.open(io.BytesIO(png)).size == (32, 32)
    assert "32×32 PNG" in bundle["text/plain"]


def test_input_is_folded_with_how_the_cell_was_read(endpoint):
    job = endpoint("ui-echo").run({"prompt": "<script>x</script>", "n": 2})
    job.result(30)
    html = static_bundle(job, read_as="JSON object (2 keys: prompt, n)")["text/html"]
    assert "input · read as JSON object (2 keys: prompt, n)" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_static_rendering_never_carries_the_api_key():
    secret = "rk_live_do_not_show_me_123"
    with LocalEndpoint("echo", endpoint_id="keyed", workers=1, api_key=secret) as server:
        server.wait_ready()
        from rp_jupyter.jobs.endpoint import Endpoint

        job = Endpoint("keyed", base_url=server.base_url, api_key=secret).run({"x": 1})
        job.result(30)
        bundle = static_bundle(job)
    assert all(secret not in str(value) for value in bundle.values())
    assert secret not in repr(job)


def test_a_running_job_renders_its_stream_so_far_under_the_header():
    job = driven_job()
    job._add_chunks(["one ", "two "])
    bundle = static_bundle(job)
    assert "IN_PROGRESS" in bundle["text/plain"] and "one two" in bundle["text/plain"]
    assert "one two" in bundle["text/html"]


def test_stream_view_keeps_a_bounded_tail_of_long_text():
    job = driven_job()
    job._add_chunks([f"{i:05d} " for i in range(20_000)])
    stream = StreamState()
    assert stream.sync(job)
    assert stream.seen == 20_000 and stream.text_chars == 120_000
    assert len(stream.text) == 8_000 and stream.text.endswith("19999 ")
    assert "112,000 earlier characters" in stream.html(frame=False)
    assert not stream.sync(job)  # nothing new


def test_stream_view_keeps_only_the_newest_items_and_the_newest_frame():
    job = driven_job()
    job._add_chunks([{"chunk": i} for i in range(50)])
    stream = StreamState()
    stream.sync(job)
    assert stream.item_count == 50 and len(stream.items) == 8
    assert stream.items[-1] == (49, {"chunk": 49})
    html = stream.html(frame=False)
    assert "chunk #49, the newest" in html


def test_a_chunk_list_shows_0_then_the_newest_whole_and_counts_once():
    job = driven_job()
    job._add_chunks([{"chunk": i} for i in range(50)])
    stream = StreamState()
    stream.sync(job)
    html = stream.html(frame=False)
    assert "#0: {&quot;chunk&quot;: 0}" in html  # the first stays
    assert "… 41 more" in html  # #1 .. #41 are said, not shown
    assert all(f"#{i}: " in html for i in range(42, 49))
    assert "max-height" not in html  # no scroll box cutting a row in half
    assert html.count("50") == 1 and "50 chunks" in html  # one count
    failed = driven_job("driven-0002-aaaa-bbbb")
    failed._add_chunks([{"chunk": i} for i in range(3)])
    failed._finish(JobStatus.FAILED, StatusDocument(id=failed.id, status=JobStatus.FAILED,
                                                     error="boom"))
    shown = static_bundle(failed)["text/html"]
    assert shown.count("3 chunks") == 1 and "(3 chunk" not in shown


def test_progress_is_read_from_step_counts_and_fractions():
    assert progress_of({"step": 3, "steps": 8}) == (0.375, "3/8")
    assert progress_of({"progress": 0.5}) == (0.5, "50%")
    assert progress_of({"progress": 40}) == (0.4, "40%")
    assert progress_of({"current": 2, "total": 4}) == (0.5, "2/4")
    assert progress_of({"progress": True}) is None
    assert progress_of("text") is None


def test_a_retry_starts_the_stream_view_again():
    job = driven_job()
    job._add_chunks(["first attempt "])
    stream = StreamState()
    stream.sync(job)
    job._restart(2)
    job._add_chunks(["second "])
    assert stream.sync(job)
    assert stream.attempt == 2 and stream.text == "second " and stream.seen == 1
