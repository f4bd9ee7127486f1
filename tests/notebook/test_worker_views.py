"""What a person sees of real workers' outputs (stand-in workers served by the local
endpoint): live panels, static renderings, terminal text, sweeps and the jobs table."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import pytest
from PIL import Image

import rp_jupyter
from rp_jupyter.api.models import MISSING
from rp_jupyter.notebook.display import present_job
from rp_jupyter.notebook.jobs_table import static_jobs_bundle
from rp_jupyter.notebook.panel import JobPanel
from rp_jupyter.notebook.static import static_bundle
from rp_jupyter.notebook.text_status import TextStatus
from tests.notebook.recording import WIDGET_VIEW, html_values, wait_until
from tests.workers import stand_in_server
from tests.workers.fake_text import tokens

REPLY_40 = "".join(tokens(40))


@pytest.fixture(scope="module")
def workers() -> Iterator:
    with stand_in_server("vllm", "vllm_proxy", "comfyui", "sdxl", "whisper",
                         "embedding") as server:
        yield server


def run(workers, name: str, job_input: dict) -> rp_jupyter.Job:
    return rp_jupyter.Endpoint(name, base_url=workers.base_url).run(job_input)


def finished(workers, name: str, job_input: dict) -> rp_jupyter.Job:
    job = run(workers, name, job_input)
    assert job.wait(30)
    return job


def final_bundle(recorder, display_id: str) -> dict:
    def ready():
        latest = recorder.latest_display(display_id)
        if latest and latest["kind"] == "update_display" and WIDGET_VIEW not in latest["data"]:
            return latest["data"]
        return None

    return wait_until(ready, 30, "the static rendering")


def png_size(bundle: dict) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(bundle["image/png"]))).size


# -- replies -------------------------------------------------------------------------------


def test_a_vllm_stream_shows_as_running_text_live_then_the_reply_with_its_footer(
        frontend, workers):
    rec = frontend.recorder
    job = run(workers, "vllm", {"prompt": "Tell me", "stream": True, "delay": 0.3,
                                "sampling_params": {"max_tokens": 40}})
    present_job(job, mode="live", block=False)
    bundle = final_bundle(rec, rec.of_kind("display")[0]["display_id"])
    live = [v for v in html_values(rec) if "IN_PROGRESS" in v and "lighthouse" in v]
    assert live, "no live update showed the running text"
    assert all('"choices"' not in v and "tokens" not in v.split("tokens in")[0] for v in live)
    assert any("2 tokens in" in v and " out · " in v for v in live)  # the footer, live
    assert REPLY_40 in bundle["text/html"] and '"choices"' not in bundle["text/html"]
    first, rest = bundle["text/plain"].split("\n", 1)
    assert "COMPLETED" in first
    assert rest.startswith(REPLY_40 + "\n[2 tokens in · 40 out · ")
    assert "tokens/s" in rest


def test_an_openai_event_stream_cut_anywhere_renders_as_the_reply(workers):
    job = finished(workers, "vllm_proxy", {"messages": [{"role": "user", "content": "hi"}],
                                           "stream": True, "seed": 11,
                                           "sampling_params": {"max_tokens": 20}})
    bundle = static_bundle(job)
    assert "".join(tokens(20)) in bundle["text/html"]
    assert "data:" not in bundle["text/html"] and "finish: length" in bundle["text/plain"]


def test_a_worker_error_reads_as_one_line(workers):
    job = finished(workers, "vllm_proxy", {"prompt": "x", "sampling_params": {"max_tokens": 9999}})
    plain = static_bundle(job)["text/plain"]
    assert ("FAILED: worker_error: vLLM returned HTTP 400: BadRequestError: max_tokens is too "
            "large (code 400)") in plain


def test_terminal_output_of_a_vllm_stream_is_running_text(workers):
    job = run(workers, "vllm", {"prompt": "Tell me", "stream": True, "delay": 0.1,
                                "sampling_params": {"max_tokens": 40}})
    out = io.StringIO()
    status = TextStatus(job, out=out)
    status.start()
    while not job.wait(0.05):
        status.poll()
    status.finish()
    lines = out.getvalue().splitlines()
    assert REPLY_40 in lines and "choices" not in out.getvalue()
    assert lines[-1].startswith("[2 tokens in · 40 out · ") and "finish" not in lines[-1]


def test_your_renderer_still_comes_first_for_a_reply(workers):
    job = finished(workers, "vllm", {"prompt": "x", "sampling_params": {"max_tokens": 3}})
    rp_jupyter.renderers.register(
        "batches", matches=lambda v: isinstance(v, list) and "choices" in str(v)[:20],
        render=lambda v: f"<b>{len(v)} batch</b>")
    try:
        assert "<b>1 batch</b>" in static_bundle(job)["text/html"]
    finally:
        rp_jupyter.renderers.unregister("batches")
    assert "<b>1 batch</b>" not in static_bundle(job)["text/html"]


# -- pictures ------------------------------------------------------------------------------


def test_comfyui_pictures_show_at_natural_size_with_progress_while_they_are_made(
        frontend, workers):
    rec = frontend.recorder
    job = run(workers, "comfyui", {"workflow": {"steps": 5, "size": [192, 128]}, "delay": 0.5})
    JobPanel(job).show()
    bundle = final_bundle(rec, rec.of_kind("display")[0]["display_id"])
    bars = [v for v in html_values(rec) if "/5 · sampling" in v and "IN_PROGRESS" in v]
    assert bars, "the progress updates never showed as a bar"
    assert png_size(bundle) == (192, 128)
    html = bundle["text/html"]
    assert html.count("<img ") == 1 and "ComfyUI_00001_.png · 192×128 PNG" in html
    assert 'style="display:block;max-width:100%;height:auto"' in html and "width=" not in html
    assert "1 image from ComfyUI" in bundle["text/plain"]


def test_several_pictures_are_a_gallery_and_one_png_sheet(workers):
    job = finished(workers, "sdxl", {"width": 64, "height": 48, "num_images": 2, "seed": 3})
    bundle = static_bundle(job)
    assert bundle["text/html"].count("<img ") == 2 and "flex-wrap:wrap" in bundle["text/html"]
    assert png_size(bundle) == (64 * 2 + 4, 48)  # side by side, never enlarged
    assert "2 images from SDXL · seed 3" in bundle["text/plain"]


def test_the_live_frame_keeps_its_natural_size(frontend, endpoint):
    job = endpoint("ui-images").run({"steps": 2, "size": 24, "delay": 0.2})
    panel = JobPanel(job)
    panel.show()
    layout = panel.view.image.layout
    assert (layout.align_self, layout.width, layout.max_width) == ("flex-start", "auto", "100%")
    assert job.wait(20)


# -- transcripts, embeddings ---------------------------------------------------------------


def test_an_srt_transcript_shows_as_timed_lines_with_real_newlines(workers):
    job = finished(workers, "whisper", {"audio": "https://example.invalid/a.wav",
                                        "transcription": "srt"})
    bundle = static_bundle(job)
    plain = bundle["text/plain"]
    assert "\\n" not in plain and "\\n" not in bundle["text/html"]
    assert "00:00.000 → 00:02.500  The lighthouse keeper counted the waves.\n" in plain
    assert plain.count(" → ") == 3
    assert "transcript · en · 3 segments · 9.0 s · SRT · model base" in plain
    assert "segments (3)" in bundle["text/html"] and "<table" in bundle["text/html"]


def test_embeddings_show_a_summary_not_thousands_of_numbers(workers):
    job = finished(workers, "embedding", {"input": ["a", "b", "c", "d"], "dimensions": 1024})
    bundle = static_bundle(job)
    assert "4 embeddings × 1024 dimensions · model BAAI/bge-small-en-v1.5" in bundle["text/plain"]
    assert len(bundle["text/plain"]) < 1_000 and len(bundle["text/html"]) < 4_000


# -- sweeps and the jobs table -------------------------------------------------------------


def test_sweep_rows_and_the_jobs_table_show_the_reply_text(frontend, workers):
    frontend.set_mode("headless")
    sweep = rp_jupyter.sweep(rp_jupyter.Endpoint("vllm", base_url=workers.base_url),
                             {"prompt": "Tell me", "stream": True},
                             **{"sampling_params.max_tokens": [5, 9]})
    rows = sweep.result(60)
    texts = [row["output"] for row in (rows.to_dict("records") if hasattr(rows, "to_dict")
                                       else rows)]
    assert texts == ["".join(tokens(5)), "".join(tokens(9))]
    table = static_jobs_bundle(rp_jupyter.jobs(limit=2))["text/plain"]
    assert "".join(tokens(9)) in table and "choices" not in table


# -- progress and errors, driven -----------------------------------------------------------


def test_progress_shows_as_a_bar_or_as_its_message():
    from rp_jupyter.notebook.stream_state import StreamState
    from tests.notebook.fake_jobs import driven_job

    job = driven_job()
    view = StreamState()
    for progress, shown in [(0.3, "30%"), ("45%", "45%"), ({"current": 2, "total": 8}, "2/8"),
                            ("loading the model", "loading the model"),
                            ({"phase": "warm-up"}, "{&quot;phase&quot;: &quot;warm-up&quot;}")]:
        job._set_progress(progress)
        assert view.sync(job)
        html = view.html(frame=False)
        assert shown in html
        assert ("width:" in html) == (progress not in ("loading the model", {"phase": "warm-up"}))
    assert job.status == "IN_PROGRESS" and job.output is MISSING  # progress is not output
    assert view.text_summary() == 'progress {"phase": "warm-up"}'
    assert not view.sync(job)  # nothing new


def test_a_completed_job_whose_output_is_an_error_reads_as_the_error():
    from rp_jupyter.api.models import JobStatus, StatusDocument
    from tests.notebook.fake_jobs import driven_job
    from tests.workers.fake_text import vllm_error

    job = driven_job()
    job._finish(JobStatus.COMPLETED, StatusDocument(
        id=job.id, status=JobStatus.COMPLETED, output=[vllm_error("prompt is too long")]))
    bundle = static_bundle(job)
    assert "BadRequestError: prompt is too long (code 400)" in bundle["text/html"]
    assert "error: BadRequestError: prompt is too long (code 400)" in bundle["text/plain"]
    assert job.text is None


def test_the_playground_shows_a_vllm_reply_as_text(frontend, workers):
    board = rp_jupyter.playground(rp_jupyter.Endpoint("vllm", base_url=workers.base_url),
                                  {"prompt": "Tell me", "stream": True,
                                   "sampling_params": {"max_tokens": 7}},
                                  **{"sampling_params.max_tokens": (1, 20, 1)})
    try:
        assert board.job.wait(30)
        wait_until(lambda: board.view is not None and board.view.settled, 20, "the final view")
        shown = board.view.html.value
        assert "".join(tokens(7)) in shown and '"choices"' not in shown
        assert "2 tokens in · 7 out" in shown
    finally:
        board.close()


def test_terminal_output_prints_a_line_per_progress_update():
    from rp_jupyter.api.models import JobStatus, StatusDocument
    from tests.notebook.fake_jobs import driven_job

    job = driven_job()
    out = io.StringIO()
    status = TextStatus(job, out=out)
    status.start()
    job._set_progress({"step": 2, "steps": 8, "message": "denoising"})
    status.poll()
    status.poll()  # no change, no new line
    job._finish(JobStatus.COMPLETED, StatusDocument(id=job.id, status=JobStatus.COMPLETED,
                                                    output={"images": []}))
    status.finish()
    lines = out.getvalue().splitlines()
    assert lines.count("  progress 2/8 · denoising") == 1
    assert lines[-4:] == [lines[-4], "{", '  "images": []', "}"]  # the output, not the progress
    assert lines[-4].startswith("runpod: COMPLETED")
