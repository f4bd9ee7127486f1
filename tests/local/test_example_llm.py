"""The ``llm`` example: worker-vllm's inputs and output shapes, native and OpenAI modes."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from rp_jupyter.local.examples import llm, wordgen

PROMPT = "Tell me about rivers and mountains"


def run(job_input: dict) -> list:
    async def collect() -> list:
        return [item async for item in llm.handler({"id": "job-1", "input": job_input})]

    return asyncio.run(collect())


def long_seed(prompt: str, at_least: int, temperature: float = 1.0) -> int:
    """A seed whose reply is naturally at least ``at_least`` tokens long."""
    return next(s for s in range(1000)
                if wordgen.natural_length(prompt, temperature, s) >= at_least)


def sse_events(text: str) -> list:
    """The data of every event in an SSE text (``[DONE]`` kept as a string)."""
    events = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            payload = block[len("data: "):]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def chat_text(events: list) -> str:
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events
                   if isinstance(e, dict) and e["choices"])


# -- native mode -----------------------------------------------------------------------


def test_native_streaming_yields_batches_of_1_3_9_27_then_50_tokens():
    seed = long_seed(PROMPT, 130)
    batches = run({"prompt": PROMPT, "stream": True, "token_delay": 0,
                   "sampling_params": {"max_tokens": 130, "seed": seed}})
    assert [len(b["choices"][0]["tokens"]) for b in batches] == [1, 3, 9, 27, 50, 40]
    assert [b["usage"]["output"] for b in batches] == [1, 4, 13, 40, 90, 130]
    assert {b["usage"]["input"] for b in batches} == {wordgen.count_tokens(PROMPT)}
    whole = run({"prompt": PROMPT, "token_delay": 0,
                 "sampling_params": {"max_tokens": 130, "seed": seed}})
    assert len(whole) == 1 and len(whole[0]["choices"][0]["tokens"]) == 1
    assert "".join(t for b in batches for t in b["choices"][0]["tokens"]) == \
        whole[0]["choices"][0]["tokens"][0]
    assert whole[0]["usage"] == {"input": wordgen.count_tokens(PROMPT), "output": 130}


def test_native_max_tokens_defaults_to_100_and_batch_sizes_follow_the_input():
    seed = long_seed(PROMPT, 100)
    batches = run({"prompt": PROMPT, "stream": True, "token_delay": 0, "max_batch_size": 10,
                   "min_batch_size": 2, "batch_size_growth_factor": 2,
                   "sampling_params": {"seed": seed}})
    sizes = [len(b["choices"][0]["tokens"]) for b in batches]
    assert sizes[:4] == [2, 4, 8, 10] and set(sizes[4:-1]) == {10}
    assert sum(sizes) == 100 == batches[-1]["usage"]["output"]


def test_seed_and_temperature_change_the_words_and_the_same_input_repeats():
    def text(**params) -> str:
        out = run({"prompt": PROMPT, "token_delay": 0, "sampling_params": params})
        return out[0]["choices"][0]["tokens"][0]

    assert text(seed=1, temperature=0.8) == text(seed=1, temperature=0.8)
    assert text(seed=1, temperature=0.8) != text(seed=2, temperature=0.8)
    assert text(seed=1, temperature=0.8) != text(seed=1, temperature=0.3)
    assert text(seed=1, temperature=0) == text(seed=2, temperature=0)


def test_messages_are_counted_through_the_chat_template_and_n_gives_choices():
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": PROMPT}]
    out = run({"messages": messages, "token_delay": 0, "sampling_params": {"n": 2}})
    assert len(out[0]["choices"]) == 2
    assert out[0]["choices"][0]["tokens"] != out[0]["choices"][1]["tokens"]
    assert out[0]["usage"]["input"] > wordgen.count_tokens(PROMPT)
    templated = run({"prompt": PROMPT, "apply_chat_template": True, "token_delay": 0})
    assert templated[0]["usage"]["input"] > wordgen.count_tokens(PROMPT)


@pytest.mark.parametrize("job_input, words", [
    ({}, "needs 'prompt'"),
    ({"prompt": "x", "sampling_params": {"max_tokens": 0}}, "max_tokens must be"),
    ({"prompt": "x", "sampling_params": {"bogus": 1}}, "unknown sampling parameter"),
    ({"prompt": "x", "token_delay": -1}, "token_delay must be"),
])
def test_native_errors_are_error_yields(job_input, words):
    out = run({**job_input, "token_delay": job_input.get("token_delay", 0)})
    assert len(out) == 1 and words in out[0]["error"]


def test_use_openai_format_answers_chat_completion_shapes():
    chunks = run({"prompt": PROMPT, "use_openai_format": True, "stream": True,
                  "token_delay": 0, "sampling_params": {"max_tokens": 20}})
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    whole = run({"prompt": PROMPT, "use_openai_format": True, "token_delay": 0,
                 "sampling_params": {"max_tokens": 20}})
    assert whole[0]["object"] == "chat.completion"
    assert chat_text(chunks) == whole[0]["choices"][0]["message"]["content"]


def test_the_token_delay_paces_the_reply():
    started = time.monotonic()
    run({"prompt": PROMPT, "stream": True, "token_delay": 0.05,
         "sampling_params": {"max_tokens": 10}})
    assert time.monotonic() - started >= 0.5


# -- OpenAI mode -----------------------------------------------------------------------


def chat(body: dict, **knobs) -> list:
    return run({"openai_route": "/v1/chat/completions",
                "openai_input": {"messages": [{"role": "user", "content": PROMPT}],
                                 **body}, "token_delay": 0, **knobs})


def test_openai_streaming_yields_strings_of_raw_sse_ending_with_done():
    seed = long_seed(PROMPT, 60)
    out = chat({"stream": True, "seed": seed, "max_tokens": 50})
    assert all(isinstance(piece, str) for piece in out)
    assert [piece.count("data: ") for piece in out] == [1, 3, 9, 27, 13]
    assert all(piece.endswith("\n\n") for piece in out)
    events = sse_events("".join(out))
    assert events[-1] == "[DONE]"
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    whole = chat({"seed": seed, "max_tokens": 50})
    assert len(whole) == 1 and whole[0]["object"] == "chat.completion"
    assert chat_text(events) == whole[0]["choices"][0]["message"]["content"]
    assert whole[0]["usage"]["completion_tokens"] == 50


def test_openai_bytes_mode_splits_the_same_text_anywhere():
    events_mode = "".join(chat({"stream": True, "seed": 3, "max_tokens": 40}))
    pieces = chat({"stream": True, "seed": 3, "max_tokens": 40}, sse_split="bytes")
    assert any(not piece.endswith("\n\n") for piece in pieces[:-1])
    assert chat_text(sse_events("".join(pieces))) == chat_text(sse_events(events_mode))
    assert "".join(pieces).endswith("data: [DONE]\n\n")


def test_openai_objects_mode_yields_lists_of_chunk_objects(monkeypatch):
    monkeypatch.setenv("RAW_OPENAI_OUTPUT", "0")
    out = chat({"stream": True, "seed": 3, "max_tokens": 12})
    assert all(isinstance(batch, list) for batch in out)
    flat = [event for batch in out for event in batch]
    assert all(e["object"] == "chat.completion.chunk" for e in flat)
    assert chat_text(flat) == chat_text(sse_events("".join(
        chat({"stream": True, "seed": 3, "max_tokens": 12}, sse_split="events"))))


def test_openai_usage_chunk_and_text_completions():
    events = sse_events("".join(chat({"stream": True, "max_tokens": 8,
                                      "stream_options": {"include_usage": True}})))
    assert events[-2]["choices"] == [] and events[-2]["usage"]["completion_tokens"] == 8
    done = run({"openai_route": "/v1/completions", "token_delay": 0,
                "openai_input": {"prompt": "Once upon a time", "max_tokens": 7}})
    assert done[0]["object"] == "text_completion"
    assert done[0]["usage"]["completion_tokens"] == 7
    streamed = run({"openai_route": "/v1/completions", "token_delay": 0,
                    "openai_input": {"prompt": "Once upon a time", "max_tokens": 7,
                                     "stream": True}})
    text = "".join(e["choices"][0]["text"] for e in sse_events("".join(streamed))
                   if isinstance(e, dict))
    assert text == done[0]["choices"][0]["text"]


def test_openai_models_lists_the_served_model():
    out = run({"openai_route": "/v1/models"})
    assert out == [llm.models()]
    assert out[0]["data"][0]["id"] == llm.MODEL


@pytest.mark.parametrize("job_input, code, words", [
    ({"openai_route": "/v1/chat/completions",
      "openai_input": {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}},
     404, "The model `gpt-x` does not exist."),
    ({"openai_route": "/v1/chat/completions", "openai_input": {"messages": []}},
     400, "messages must be a non-empty list"),
    ({"openai_route": "/v1/audio/speech", "openai_input": {"input": "hi"}},
     400, "Invalid route"),
])
def test_openai_errors_are_openai_error_objects(job_input, code, words):
    out = run({**job_input, "token_delay": 0})
    assert len(out) == 1
    assert out[0]["error"]["code"] == code and words in out[0]["error"]["message"]
    assert set(out[0]["error"]) == {"message", "type", "param", "code"}


# -- through the endpoint --------------------------------------------------------------


def test_the_llm_example_on_the_endpoint_aggregates_and_streams(start_endpoint, client):
    ep = start_endpoint("llm")
    doc = client.post(f"{ep.url}/runsync", json={"input": {
        "prompt": PROMPT, "stream": True, "token_delay": 0,
        "sampling_params": {"max_tokens": 13}}}).json()
    assert doc["status"] == "COMPLETED"
    assert [len(b["choices"][0]["tokens"]) for b in doc["output"]] == [1, 3, 9]
    stream = client.get(f"{ep.url}/stream/{doc['id']}").json()["stream"]
    assert [c["output"] for c in stream] == doc["output"]
