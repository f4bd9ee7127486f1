"""What ``Job`` gives for the outputs of real workers, run as stand-in worker scripts (shaped
like the official ones, tests/workers/) served unchanged by the local endpoint: the text of
vLLM and OpenAI replies, pictures, transcripts, embeddings, and progress updates."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

import rp_jupyter
from rp_jupyter import formats
from rp_jupyter.api.models import MISSING
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.jobs.runtime import job_from_record
from rp_jupyter.local import LocalEndpoint, LocalServer
from tests.waiting import wait_for
from tests.workers import WORKERS, file_site, script, stand_in_server
from tests.workers.fake_text import tokens
from tests.workers.pictures import png

CHAT = [{"role": "user", "content": "Tell me about the lighthouse"}]


@pytest.fixture(scope="module")
def workers() -> Iterator[LocalServer]:
    with stand_in_server() as server:
        yield server


def run(workers: LocalServer, name: str, job_input: dict, timeout: float = 30) -> rp_jupyter.Job:
    job = rp_jupyter.Endpoint(name, base_url=workers.base_url).run(job_input)
    assert job.wait(timeout), f"{name} job did not end"
    return job


@pytest.fixture(scope="module")
def picture_site(tmp_path_factory) -> Iterator[str]:
    """A loopback web server with one 192×128 PNG at /result.png (a public endpoint's URL)."""
    folder = tmp_path_factory.mktemp("site")
    (folder / "result.png").write_bytes(png(192, 128, seed=5))
    with file_site(folder) as base:
        yield f"{base}/result.png"


# -- text ----------------------------------------------------------------------------------


def test_job_text_of_a_vllm_token_stream_is_the_generated_text(workers):
    job = run(workers, "vllm", {"prompt": "Tell me a story", "stream": True,
                                "sampling_params": {"max_tokens": 40}})
    assert [len(c["choices"][0]["tokens"]) for c in job.chunks] == [1, 3, 9, 27]
    assert job.result() == job.chunks  # return_aggregate_stream: the output is every batch
    assert job.text == "".join(tokens(40))
    reply = job.reading
    assert isinstance(reply, formats.Reply) and reply.usage == formats.Usage(4, 40)
    preview = JobJournal.open().get(job.journal_key).output_preview
    assert preview.startswith("The lighthouse keeper") and "choices" not in preview


def test_job_text_of_a_vllm_answer_without_streaming(workers):
    job = run(workers, "vllm", {"messages": CHAT, "sampling_params": {"max_tokens": 12}})
    assert len(job.chunks) == 1 and job.text == "".join(tokens(12))


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/completions"])
def test_job_text_of_an_openai_route_job_streamed_or_not(workers, route, stream):
    body = {"max_tokens": 30, "stream": stream, "stream_options": {"include_usage": True}}
    body.update({"messages": CHAT} if route.endswith("chat/completions") else {"prompt": "Hi"})
    job = run(workers, "vllm", {"openai_route": route, "openai_input": body})
    if stream:
        assert all(isinstance(c, str) and c.startswith("data: ") for c in job.chunks)
    assert job.text == "".join(tokens(30))
    assert job.reading.finish_reason == "length" and job.reading.usage.output == 30


@pytest.mark.parametrize("seed", range(6))
def test_job_text_of_sse_relayed_in_pieces_cut_anywhere(workers, seed):
    job = run(workers, "vllm_proxy", {"messages": CHAT, "stream": True, "seed": seed,
                                      "sampling_params": {"max_tokens": 25}})
    assert len(job.chunks) > 10
    assert not all(c.endswith("\n\n") for c in job.chunks)  # cut mid-event
    assert job.text == "".join(tokens(25))
    assert job.reading.shape == "sse" and job.reading.finish_reason == "length"


@pytest.mark.parametrize("name,job_input", [
    ("vllm", {"prompt": "Tell me a story", "stream": True, "sampling_params": {"max_tokens": 40}}),
    ("vllm_proxy", {"messages": CHAT, "stream": True, "seed": 3,
                    "sampling_params": {"max_tokens": 40}}),
    ("vllm", {"messages": CHAT, "sampling_params": {"max_tokens": 40}}),
])
def test_text_stream_gives_the_reply_piece_by_piece_whatever_the_shape(workers, name, job_input):
    job = rp_jupyter.Endpoint(name, base_url=workers.base_url).run(job_input)
    pieces = list(job.text_stream(timeout=30))
    assert "".join(pieces) == "".join(tokens(40)) == job.text
    # piece by piece as chunks complete a batch or an event, not all at the end
    assert len(pieces) == 1 if len(job.chunks) == 1 else 1 < len(pieces) <= len(job.chunks)


def test_atext_stream_is_the_async_twin(workers):
    async def collect() -> list[str]:
        job = await rp_jupyter.Endpoint("vllm", base_url=workers.base_url).arun(
            {"prompt": "Tell me a story", "stream": True, "sampling_params": {"max_tokens": 40}})
        return [piece async for piece in job.atext_stream()]

    pieces = asyncio.run(collect())
    assert "".join(pieces) == "".join(tokens(40)) and len(pieces) == 4


def test_an_openai_error_fails_the_job_with_a_readable_message(workers):
    job = run(workers, "vllm_proxy", {"prompt": "x", "sampling_params": {"max_tokens": 9000}})
    assert job.status == "FAILED" and job.text is None
    assert formats.error_message(job.error) == (
        "worker_error: vLLM returned HTTP 400: BadRequestError: max_tokens is too large "
        "(code 400)")


def test_job_text_of_a_transcript_is_the_transcription_with_real_newlines(workers):
    job = run(workers, "whisper", {"audio_base64": formats.b64(b"RIFF....WAVEfmt "),
                                   "transcription": "srt"})
    assert job.text.startswith("1\n00:00:00,000 --> 00:00:02,500\nThe lighthouse keeper")
    assert isinstance(job.reading, formats.Transcript) and len(job.reading.cues) == 3
    assert job.images == [] and job.embeddings is None


# -- pictures and vectors ------------------------------------------------------------------


def test_job_images_of_comfyui_sdxl_and_a_public_endpoint(workers, picture_site):
    comfy = run(workers, "comfyui", {"workflow": {"size": [96, 64], "count": 2}})
    assert [image.size for image in comfy.images] == [(96, 64), (96, 64)]
    legacy = run(workers, "comfyui", {"workflow": "{}", "legacy": True})
    assert [image.size for image in legacy.images] == [(192, 192)]
    sdxl = run(workers, "sdxl", {"width": 64, "height": 48, "num_images": 2})
    assert [image.size for image in sdxl.images] == [(64, 48), (64, 48)]
    public = run(workers, "public_image", {"url": picture_site})
    assert [image.size for image in public.images] == [(192, 128)]
    assert public.text is None


def test_job_embeddings_are_a_numpy_array(workers):
    job = run(workers, "embedding", {"input": ["a lighthouse", "the sea"], "dimensions": 16})
    vectors = job.embeddings
    assert vectors.shape == (2, 16) and job.reading.model == "BAAI/bge-small-en-v1.5"
    routed = run(workers, "embedding", {"openai_route": "/v1/embeddings", "dimensions": 8,
                                        "openai_input": {"input": "one"}})
    assert routed.output[0]["object"] == "list" and routed.embeddings.shape == (1, 8)


# -- progress ------------------------------------------------------------------------------


def watch_progress(job: rp_jupyter.Job) -> list:
    seen: list = []
    job.subscribe(lambda j, event: seen.append(j.progress) if event == "progress" else None)
    return seen


def assert_progress_kept_apart(job: rp_jupyter.Job, seen: list) -> None:
    steps = [p["step"] for p in seen]
    assert len(set(steps)) >= 2 and steps == sorted(steps), seen
    assert all(p["steps"] == 8 and p["message"] == "sampling" for p in seen)
    assert isinstance(job.output, dict) and len(job.images) == 1  # the result, not progress
    record = JobJournal.open().get(job.journal_key)
    journaled = [detail for _, status, detail in record.events()
                 if detail and detail.startswith("progress ")]
    assert len(journaled) == len(seen)
    assert record.output() == job.output


def test_a_watched_jobs_progress_is_seen_journaled_and_never_taken_for_the_output(workers):
    workers.endpoint("comfyui").reset_stats()
    job = rp_jupyter.Endpoint("comfyui", base_url=workers.base_url).run(
        {"workflow": {"steps": 8, "size": [32, 32]}, "delay": 0.5})
    seen = watch_progress(job)
    assert job.wait(30) and job.status == "COMPLETED"
    assert_progress_kept_apart(job, seen)
    # about one /status a second while the job ran, not one per poll of /stream
    assert workers.endpoint("comfyui").request_count("status") <= 10


def test_progress_from_a_real_runpod_worker_process():
    """The comfyui stand-in run as runpod-python runs it, pulling through the worker protocol."""
    ep = LocalEndpoint("echo", workers=0, api_key="progress-key").start()
    env = {**os.environ, **ep.worker_env("runpod-worker-1"), "PYTHONPATH": str(WORKERS)}
    # its own process group: runpod-python starts a heartbeat process that must end too
    worker = subprocess.Popen([sys.executable, script("comfyui")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        job = rp_jupyter.Endpoint(ep.endpoint_id, base_url=ep.base_url,
                                  api_key="progress-key").run(
            {"workflow": {"steps": 8, "size": [32, 32]}, "delay": 0.5})
        seen = watch_progress(job)
        assert job.wait(60) and job.status == "COMPLETED"
        assert job.worker_id == "runpod-worker-1"
        assert_progress_kept_apart(job, seen)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        ep.stop()


def test_an_unfinished_job_read_back_from_the_journal_keeps_its_latest_progress(workers):
    job = rp_jupyter.Endpoint("comfyui", base_url=workers.base_url).run(
        {"workflow": {"steps": 8, "size": [8, 8]}, "delay": 0.5})
    with job.watching():
        wait_for(lambda: job.progress and job.progress["step"] >= 2, 20, "a progress update")
        seen = job.progress
        journal = JobJournal.open()
        journal.flush()
        again = job_from_record(journal.get(job.journal_key), None)
    assert not again.is_final and again.progress["step"] >= seen["step"]
    assert again.output is MISSING  # the progress is not the output
    job.cancel()


def test_an_unwatched_job_is_followed_without_extra_status_requests(workers):
    workers.endpoint("comfyui").reset_stats()
    job = rp_jupyter.Endpoint("comfyui", base_url=workers.base_url).run(
        {"workflow": {"steps": 3, "size": [8, 8]}, "delay": 0.4})
    assert job.wait(30) and job.status == "COMPLETED"
    assert workers.endpoint("comfyui").request_count("status") <= 2
    assert job.progress is None
