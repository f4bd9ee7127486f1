"""Worker scripts shaped like the official Runpod workers, served unchanged, job after job
(see ``worker_scripts/README.md``)."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from rp_jupyter.local import HandlerLoadError
from rp_jupyter.local.examples import llm
from tests.local.conftest import process_alive, submit, wait_for, wait_status
from tests.local.test_example_media import WORKFLOW, wav_base64

SCRIPTS = Path(__file__).parent / "worker_scripts"


def runsync(client, ep, job_input: dict) -> dict:
    response = client.post(f"{ep.url}/runsync", json={"input": job_input},
                           params={"wait": 60000})
    assert response.status_code == 200, response.text
    return response.json()


def test_worker_template_says_hello_job_after_job(start_endpoint, client):
    ep = start_endpoint(str(SCRIPTS / "template" / "handler.py"))
    outputs = [runsync(client, ep, job)["output"] for job in ({"name": "Ann"}, {}, {"name": "Bo"})]
    assert outputs == ["Hello, Ann!", "Hello, World!", "Hello, Bo!"]


def test_faster_whisper_passes_job_two_and_three(start_endpoint, client, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # its rp_cleanup removes folders in the working directory
    ep = start_endpoint(str(SCRIPTS / "faster_whisper" / "src" / "rp_handler.py"))
    for seconds in (3.0, 5.0, 7.0):
        doc = runsync(client, ep, {"audio_base64": wav_base64(seconds), "transcription": "srt"})
        assert doc["status"] == "COMPLETED", doc.get("error")
        assert doc["output"]["segments"][-1]["end"] == seconds
        assert doc["output"]["transcription"].startswith("1\n00:00:00,000 --> ")
    bad = runsync(client, ep, {"audio_base64": wav_base64(1.0), "beam_size": "five"})
    assert bad["status"] == "FAILED" and "beam_size" in bad["error"]
    after = runsync(client, ep, {"audio_base64": wav_base64(2.0)})
    assert after["status"] == "COMPLETED"
    assert len({doc["workerId"], bad["workerId"], after["workerId"]}) == 1


def test_rp_debugger_checkpoints_fail_a_second_job_unless_cleared_between_jobs():
    from runpod.serverless.utils import rp_debugger

    from rp_jupyter.local.job_results import reset_between_jobs

    @rp_debugger.FunctionTimer
    def timed(job):
        with rp_debugger.LineTimer("step"):
            return job

    rp_debugger.clear_debugger_output()
    timed(1)
    with pytest.raises(KeyError, match="already exists"):
        timed(2)
    reset_between_jobs()
    assert timed(3) == 3
    reset_between_jobs()


def test_vllm_main_serves_openai_and_legacy_jobs_through_its_own_server(start_endpoint,
                                                                        client):
    ep = start_endpoint(str(SCRIPTS / "vllm" / "src" / "main.py"))
    openai_client = openai.OpenAI(base_url=ep.openai_base_url, api_key="unused")
    messages = [{"role": "user", "content": "Where do rivers go?"}]
    reply = openai_client.chat.completions.create(model=llm.MODEL, messages=messages,
                                                  max_tokens=20, seed=3)
    stream = openai_client.chat.completions.create(model=llm.MODEL, messages=messages,
                                                   max_tokens=20, seed=3, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert streamed == reply.choices[0].message.content != ""
    legacy = runsync(client, ep, {"prompt": "Once", "sampling_params": {"max_tokens": 5}})
    assert legacy["output"][0]["object"] == "text_completion"
    assert legacy["output"][0]["usage"]["completion_tokens"] == 5
    pieces = runsync(client, ep, {"messages": messages, "stream": True,
                                  "sampling_params": {"max_tokens": 8}})["output"]
    assert all(isinstance(piece, str) for piece in pieces)
    assert "".join(pieces).endswith("data: [DONE]\n\n")
    models = openai_client.models.list().data
    assert [m.id for m in models] == [llm.MODEL]
    server_pid = models[0].model_extra["server_pid"]
    assert process_alive(server_pid)
    ep.stop()
    wait_for(lambda: not process_alive(server_pid), what="the spawned server to exit")


def test_comfyui_answers_images_and_its_own_errors(start_endpoint, client):
    ep = start_endpoint(str(SCRIPTS / "comfyui" / "handler.py"))
    images = runsync(client, ep, {"workflow": WORKFLOW})["output"]["images"]
    assert [(i["filename"], i["type"]) for i in images] == [
        ("ComfyUI_00001_.png", "base64"), ("ComfyUI_00002_.png", "base64")]
    graph = {k: v for k, v in WORKFLOW.items() if v["class_type"] != "SaveImage"}
    assert runsync(client, ep, {"workflow": json.dumps(graph)})["output"] == \
        {"status": "success_no_images", "images": []}
    missing = runsync(client, ep, {"prompt": "no graph"})
    assert missing["status"] == "FAILED" and missing["error"] == "Missing 'workflow' parameter"


def test_sdxl_img2img_asks_for_a_fresh_worker(start_endpoint, client):
    ep = start_endpoint(str(SCRIPTS / "sdxl" / "handler.py"))
    first = runsync(client, ep, {"prompt": "a barn", "width": 64, "height": 64, "seed": 1})
    second = runsync(client, ep, {"prompt": "a barn", "width": 64, "height": 64, "seed": 1,
                                  "num_images": 2})
    assert first["output"]["images"][0] == second["output"]["images"][0]
    assert first["workerId"] == second["workerId"] and first["output"]["seed"] == 1
    refined = runsync(client, ep, {"prompt": "a barn", "width": 64, "height": 64,
                                   "image_url": first["output"]["image_url"]})
    assert refined["status"] == "COMPLETED" and "refresh_worker" not in refined["output"]
    wait_for(lambda: refined["workerId"] not in {w["id"] for w in ep.workers()},
             what="the used worker to be replaced")
    after = runsync(client, ep, {"prompt": "again", "width": 32, "height": 32})
    assert after["status"] == "COMPLETED" and after["workerId"] != refined["workerId"]
    invalid = runsync(client, ep, {"prompt": "x", "num_images": "three"})
    assert invalid["status"] == "FAILED" and "TypeError" in invalid["error"]


def test_infinity_without_model_names_says_why_it_cannot_start(start_endpoint, monkeypatch):
    monkeypatch.delenv("MODEL_NAMES", raising=False)
    ep = start_endpoint(str(SCRIPTS / "infinity" / "src" / "handler.py"), ready=False)
    with pytest.raises(HandlerLoadError) as raised:
        ep.wait_ready(30.0)
    assert str(raised.value).endswith(
        "handler.py exited with code 1 while loading, before it called "
        "runpod.serverless.start; it last wrote: startup failed: Missing required "
        "environment variable 'MODEL_NAMES'. Please provide at least one HuggingFace model "
        "ID, or multiple IDs separated by a semicolon.")


def test_infinity_runs_jobs_concurrently_and_answers_the_openai_route(start_endpoint, client,
                                                                      monkeypatch):
    monkeypatch.setenv("MODEL_NAMES", "BAAI/bge-small-en-v1.5;intfloat/e5-large-v2")
    monkeypatch.setenv("EMBED_LATENCY", "2.0")
    ep = start_endpoint(str(SCRIPTS / "infinity" / "src" / "handler.py"))
    ids = [submit(client, ep, {"model": "intfloat/e5-large-v2", "input": f"text {n}"})
           for n in range(4)]
    docs = [wait_status(client, ep, job_id, "COMPLETED", timeout=30) for job_id in ids]
    assert {len(d["output"]["data"][0]["embedding"]) for d in docs} == {1024}
    records = [ep.job_record(job_id) for job_id in ids]
    assert len({r["worker_id"] for r in records}) == 1
    assert max(r["started_at"] for r in records) < min(r["finished_at"] for r in records)
    routed = openai.OpenAI(base_url=ep.openai_base_url, api_key="unused").embeddings.create(
        model="BAAI/bge-small-en-v1.5", input=["one", "two"])
    assert [len(d.embedding) for d in routed.data] == [384, 384]
