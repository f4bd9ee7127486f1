"""The ``imagegen``, ``transcribe`` and ``embed`` examples: the official workers' shapes."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import wave

import pytest

from rp_jupyter.local.examples import embed, imagegen, transcribe
from tests.local.conftest import submit, wait_for, wait_status

WORKFLOW = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 7, "steps": 4, "model": ["4", 0]}},
    "5": {"class_type": "EmptyLatentImage",
          "inputs": {"width": 64, "height": 48, "batch_size": 2}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red barn", "clip": ["4", 1]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI",
                                                "images": ["8", 0]}},
}


@pytest.fixture
def no_progress(monkeypatch):
    """Run imagegen in this process without posting progress updates anywhere."""
    monkeypatch.setattr(imagegen, "_runpod", False)


def _png(data: str):
    from PIL import Image

    raw = base64.b64decode(data.split(",", 1)[1] if data.startswith("data:") else data)
    assert raw.startswith(b"\x89PNG")
    return Image.open(io.BytesIO(raw))


def wav_base64(seconds: float) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x01\x00" * int(8000 * seconds))
    return base64.b64encode(buffer.getvalue()).decode()


# -- imagegen --------------------------------------------------------------------------


def test_a_comfyui_workflow_gives_named_base64_images_of_its_size(no_progress):
    out = imagegen.handler({"id": "j", "input": {"workflow": WORKFLOW, "step_delay": 0}})
    assert [i["filename"] for i in out["images"]] == ["ComfyUI_00001_.png",
                                                      "ComfyUI_00002_.png"]
    assert {i["type"] for i in out["images"]} == {"base64"}
    assert [_png(i["data"]).size for i in out["images"]] == [(64, 48), (64, 48)]
    as_text = imagegen.handler({"id": "j", "input": {"workflow": json.dumps(WORKFLOW),
                                                     "step_delay": 0}})
    assert as_text == out


def test_a_workflow_without_save_node_and_bad_inputs(no_progress):
    graph = {k: v for k, v in WORKFLOW.items() if v["class_type"] != "SaveImage"}
    assert imagegen.handler({"id": "j", "input": {"workflow": graph, "step_delay": 0}}) == \
        {"status": "success_no_images", "images": []}
    assert imagegen.handler({"id": "j", "input": {"workflow": "{nope"}}) == \
        {"error": "Invalid JSON format in workflow"}
    bad = imagegen.handler({"id": "j", "input": {"workflow": WORKFLOW, "images": [{"x": 1}]}})
    assert "'images' must be a list of objects" in bad["error"]


def test_sdxl_style_gives_data_urls_the_first_as_image_url_and_the_seed(no_progress):
    out = imagegen.handler({"id": "j", "input": {"prompt": "a lighthouse", "width": 80,
                                                 "height": 40, "num_images": 2, "seed": 11,
                                                 "step_delay": 0}})
    assert set(out) == {"images", "image_url", "seed"} and out["seed"] == 11
    assert all(url.startswith("data:image/png;base64,") for url in out["images"])
    assert out["image_url"] == out["images"][0] and out["images"][0] != out["images"][1]
    assert _png(out["image_url"]).size == (80, 40)
    again = imagegen.handler({"id": "k", "input": {"prompt": "a lighthouse", "width": 80,
                                                   "height": 40, "num_images": 2, "seed": 11,
                                                   "step_delay": 0}})
    assert again == out
    assert "num_images must be" in imagegen.handler(
        {"id": "j", "input": {"prompt": "x", "num_images": 3}})["error"]


def test_img2img_refines_the_given_image_and_asks_for_a_fresh_worker(no_progress):
    first = imagegen.handler({"id": "j", "input": {"prompt": "p", "width": 32, "height": 32,
                                                   "step_delay": 0}})
    out = imagegen.handler({"id": "j", "input": {"prompt": "p", "width": 32, "height": 32,
                                                 "image_url": first["image_url"],
                                                 "step_delay": 0}})
    assert out["refresh_worker"] is True and out["image_url"] != first["image_url"]


def test_imagegen_progress_shows_in_status_while_sampling(start_endpoint, client):
    ep = start_endpoint("imagegen")
    job_id = submit(client, ep, {"prompt": "slow", "width": 32, "height": 32,
                                 "num_inference_steps": 40, "step_delay": 0.1})
    progress = wait_for(lambda: (lambda d: d.get("output") if d["status"] == "IN_PROGRESS"
                                 else None)(client.get(f"{ep.url}/status/{job_id}").json()),
                        timeout=20, what="a progress update")
    assert isinstance(progress, str) and progress.endswith("%")
    done = wait_status(client, ep, job_id, "COMPLETED", timeout=30)
    assert done["output"]["image_url"].startswith("data:image/png;base64,")
    comfy = client.post(f"{ep.url}/runsync", json={"input": {"workflow": WORKFLOW,
                                                              "step_delay": 0}}).json()
    assert comfy["status"] == "COMPLETED" and len(comfy["output"]["images"]) == 2


def test_imagegen_refresh_worker_replaces_the_worker(start_endpoint, client):
    ep = start_endpoint("imagegen")
    doc = client.post(f"{ep.url}/runsync", json={"input": {
        "prompt": "p", "width": 16, "height": 16, "step_delay": 0,
        "refresh_worker": True}}).json()
    assert doc["status"] == "COMPLETED" and "refresh_worker" not in doc["output"]
    wait_for(lambda: doc["workerId"] not in {w["id"] for w in ep.workers()},
             what="the used worker to be replaced")
    ep.wait_ready(20.0)


# -- transcribe ------------------------------------------------------------------------


def test_a_transcript_has_the_worker_shape_and_the_audio_duration():
    out = transcribe.handler({"id": "j", "input": {"audio_base64": wav_base64(9.0),
                                                   "word_timestamps": True}})
    assert set(out) == {"segments", "detected_language", "transcription", "translation",
                        "device", "model", "word_timestamps"}
    assert out["model"] == "base" and out["device"] == "cpu" and out["translation"] is None
    assert out["segments"][-1]["end"] == 9.0 and out["segments"][0]["start"] == 0.0
    assert out["transcription"] == " ".join(s["text"].strip() for s in out["segments"])
    assert out["word_timestamps"][0]["word"].strip() == out["segments"][0]["text"].split()[0]
    again = transcribe.handler({"id": "k", "input": {"audio_base64": wav_base64(9.0),
                                                     "word_timestamps": True}})
    assert again == out


def test_srt_and_vtt_transcripts_carry_their_timestamps():
    audio = wav_base64(8.0)
    srt = transcribe.handler({"id": "j", "input": {"audio_base64": audio,
                                                   "transcription": "srt"}})["transcription"]
    assert srt.startswith("1\n00:00:00,000 --> 00:00:04,000\n")
    assert "\n\n2\n00:00:04,000 --> 00:00:08,000\n" in srt
    vtt = transcribe.handler({"id": "j", "input": {"audio_base64": audio, "translate": True,
                                                   "transcription": "vtt",
                                                   "translation": "formatted_text"}})
    assert vtt["transcription"].startswith("00:00:00.000 --> 00:00:04.000\n")
    assert vtt["translation"].count("\n") == 1


def test_transcribe_input_errors_match_the_worker():
    assert transcribe.handler({"id": "j", "input": {}}) == \
        {"error": "Must provide either audio or audio_base64"}
    both = transcribe.handler({"id": "j", "input": {"audio": "x", "audio_base64": "eA=="}})
    assert both == {"error": "Must provide either audio or audio_base64, not both"}
    with pytest.raises(ValueError, match="Invalid model name: huge"):
        transcribe.handler({"id": "j", "input": {"audio_base64": "eA==", "model": "huge"}})
    by_url = transcribe.handler({"id": "j", "input": {
        "audio": "data:audio/wav;base64," + wav_base64(2.0)}})
    assert by_url["segments"][-1]["end"] == 2.0


def test_transcribe_runs_job_after_job_on_the_endpoint(start_endpoint, client):
    ep = start_endpoint("transcribe")
    for seconds in (4.0, 6.0, 8.0):
        doc = client.post(f"{ep.url}/runsync", json={"input": {
            "audio_base64": wav_base64(seconds), "transcription": "srt"}}).json()
        assert doc["status"] == "COMPLETED"
        assert doc["output"]["segments"][-1]["end"] == seconds
    failed = client.post(f"{ep.url}/runsync", json={"input": {"audio_base64": "eA==",
                                                              "model": "huge"}}).json()
    assert failed["status"] == "FAILED"
    assert "Invalid model name" in json.loads(failed["error"])["error_message"]


# -- embed -----------------------------------------------------------------------------


def call_embed(job_input: dict):
    return asyncio.run(embed.async_generator_handler({"id": "j", "input": job_input}))


def test_embeddings_are_unit_vectors_in_the_openai_shape():
    out = call_embed({"model": "BAAI/bge-small-en-v1.5", "input": ["a cat", "a dog"]})
    assert out["object"] == "list" and out["model"] == "BAAI/bge-small-en-v1.5"
    assert [d["index"] for d in out["data"]] == [0, 1]
    vectors = [d["embedding"] for d in out["data"]]
    assert [len(v) for v in vectors] == [384, 384] and vectors[0] != vectors[1]
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-3 for v in vectors)
    assert call_embed({"input": "a cat"})["data"][0]["embedding"] == vectors[0]
    assert out["usage"]["prompt_tokens"] == out["usage"]["total_tokens"] > 0


def test_the_openai_route_answers_a_list_and_models_and_rerank():
    routed = call_embed({"openai_route": "/v1/embeddings",
                         "openai_input": {"model": "BAAI/bge-small-en-v1.5", "input": "hi"}})
    assert isinstance(routed, list) and routed[0]["data"][0]["object"] == "embedding"
    listed = call_embed({"openai_route": "/v1/models"})
    assert [m["id"] for m in listed["data"]] == ["BAAI/bge-small-en-v1.5"]
    ranked = call_embed({"query": "red apple", "docs": ["a red apple", "a blue car"],
                         "return_docs": True})
    scores = [r["relevance_score"] for r in ranked["results"]]
    assert scores[0] > scores[1] and ranked["results"][0]["document"] == "a red apple"


@pytest.mark.parametrize("job_input, words", [
    ({"openai_route": "/v1/embeddings", "openai_input": {"input": "x"}},
     "Did not specify model"),
    ({"openai_route": "/v1/rerank", "openai_input": {"input": "x"}}, "Invalid OpenAI Route"),
    ({"model": "nope/model", "input": "x"}, "is not served here"),
    ({"nothing": True}, "Invalid input"),
])
def test_embed_errors_are_infinity_error_objects(job_input, words):
    out = call_embed(job_input)
    assert out["object"] == "error" and out["code"] == 400 and words in out["message"]
