"""The example handlers: echo, tokens, images, chaos."""

from __future__ import annotations

import base64
import io
import time

import pytest

from rp_jupyter.local.examples import chaos, echo, images, tokens


def _job(job_input: dict, job_id: str = "job-1") -> dict:
    return {"id": job_id, "input": job_input}


def test_echo_returns_its_input():
    assert echo.handler(_job({"a": [1, 2]})) == {"echo": {"a": [1, 2]}}


def test_tokens_streams_the_words_of_the_prompt():
    out = list(tokens.handler(_job({"prompt": "the quick brown fox", "rate": 0})))
    assert out == ["the ", "quick ", "brown ", "fox "]


def test_tokens_has_a_default_text_and_respects_max_tokens():
    out = list(tokens.handler(_job({"rate": 0, "max_tokens": 5})))
    assert out == [w + " " for w in tokens.DEFAULT_PROMPT.split()[:5]]


def test_tokens_temperature_and_seed_vary_the_words_deterministically():
    base = {"prompt": tokens.DEFAULT_PROMPT, "rate": 0}
    cold = list(tokens.handler(_job({**base, "temperature": 0})))
    warm = list(tokens.handler(_job({**base, "temperature": 1.0, "seed": 1})))
    again = list(tokens.handler(_job({**base, "temperature": 1.0, "seed": 1})))
    other = list(tokens.handler(_job({**base, "temperature": 1.0, "seed": 2})))
    assert warm == again
    assert warm != cold and warm != other
    assert len(warm) == len(cold)


@pytest.mark.parametrize("rate, words, at_least", [(20, 5, 0.2), (2000, 200, 0.09)])
def test_tokens_keeps_to_its_rate(rate, words, at_least):
    prompt = " ".join(f"w{i}" for i in range(words))
    started = time.monotonic()
    out = list(tokens.handler(_job({"prompt": prompt, "rate": rate})))
    elapsed = time.monotonic() - started
    assert len(out) == words
    assert at_least <= elapsed < at_least + 1.0


def test_images_yields_sharper_pngs_and_ends_with_the_final_picture():
    from PIL import Image

    chunks = list(images.handler(_job({"steps": 4, "size": 64, "seed": 3, "delay": 0})))
    assert [c["step"] for c in chunks] == [1, 2, 3, 4]
    assert [c["progress"] for c in chunks] == [0.25, 0.5, 0.75, 1.0]
    assert all(c["steps"] == 4 for c in chunks)
    pictures = [Image.open(io.BytesIO(base64.b64decode(c["image"]))) for c in chunks]
    assert all(p.format == "PNG" and p.size == (64, 64) for p in pictures)
    final = images.picture(64, 3)
    assert pictures[-1].convert("RGB").tobytes() == final.tobytes()
    assert pictures[0].convert("RGB").tobytes() != final.tobytes()
    different = images.picture(64, 4)
    assert different.tobytes() != final.tobytes()


def test_chaos_streams_chunks_then_a_summary():
    out = list(chaos.handler(_job({"chunks": 3})))
    assert out == [{"chunk": 0}, {"chunk": 1}, {"chunk": 2},
                   {"done": True, "slept": 0.0, "chunks": 3, "attempt": 1}]


def test_chaos_fails_hard_and_soft_on_request():
    with pytest.raises(RuntimeError, match="kaboom"):
        list(chaos.handler(_job({"fail": "kaboom"})))
    assert list(chaos.handler(_job({"error": "soft"}))) == [{"error": "soft"}]
    with pytest.raises(RuntimeError, match="kaboom"):
        chaos.plain(_job({"fail": "kaboom"}))
    assert chaos.plain(_job({"error": "soft"})) == {"error": "soft"}
    assert chaos.plain(_job({})) == {"done": True, "slept": 0.0, "attempt": 1}


def test_chaos_fail_first_fails_once_per_job_id(tmp_path, monkeypatch):
    monkeypatch.setattr(chaos, "MARKER_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="fail_first"):
        chaos.plain(_job({"fail_first": True}, "job-a"))
    assert chaos.plain(_job({"fail_first": True}, "job-a"))["attempt"] == 2
    with pytest.raises(RuntimeError):
        chaos.plain(_job({"fail_first": True}, "job-b"))


def test_the_images_example_through_the_endpoint(start_endpoint, client):
    ep = start_endpoint("images", return_aggregate_stream=True)
    doc = client.post(f"{ep.url}/runsync",
                      json={"input": {"steps": 3, "size": 32, "delay": 0}}).json()
    assert doc["status"] == "COMPLETED"
    assert [c["step"] for c in doc["output"]] == [1, 2, 3]
    assert base64.b64decode(doc["output"][-1]["image"]).startswith(b"\x89PNG")
