"""Requests for the OpenAI route, checked and encoded before anything is sent; the same
request in the vLLM worker's native input for endpoints without the route."""

from __future__ import annotations

import json

import pytest

from rp_jupyter.api.errors import InvalidRequestError
from rp_jupyter.api.openai_request import build_openai_request, rebuild_openai_request
from rp_jupyter.api.redact import Secret

MESSAGES = [{"role": "user", "content": "hi"}]


def test_a_streamed_chat_asks_for_token_counts_and_is_journaled_as_the_platforms_job():
    request = build_openai_request("chat", MESSAGES, model="m", params={"max_tokens": 5})
    assert request.route == "/v1/chat/completions" and request.stream
    assert json.loads(request.encoded) == {"model": "m", "messages": MESSAGES, "max_tokens": 5,
                                           "stream": True,
                                           "stream_options": {"include_usage": True}}
    assert request.redacted == {"input": {"openai_route": "/v1/chat/completions",
                                          "openai_input": json.loads(request.encoded)}}
    own = build_openai_request("chat", MESSAGES, params={"stream_options": {}})
    assert json.loads(own.encoded)["stream_options"] == {}


def test_how_the_answer_travels_is_not_part_of_the_reuse_key():
    streamed = build_openai_request("chat", MESSAGES, params={"seed": 1})
    plain = build_openai_request("chat", MESSAGES, stream=False, params={"seed": 1})
    other = build_openai_request("chat", MESSAGES, params={"seed": 2})
    assert streamed.request_hash == plain.request_hash != other.request_hash
    scoped = build_openai_request("chat", MESSAGES, params={"seed": 1}, cache_scope="local-x")
    assert scoped.request_hash != streamed.request_hash


def test_a_secret_is_sent_but_never_journaled_and_blocks_a_rerun_from_the_journal():
    request = build_openai_request("chat", [{"role": "user", "content": Secret("sk-hidden-1")}])
    assert b"sk-hidden-1" in request.encoded
    assert "sk-hidden-1" not in json.dumps(request.redacted) and "hidden" not in repr(request)
    with pytest.raises(InvalidRequestError, match="secrets"):
        rebuild_openai_request(request.redacted["input"])


def test_the_native_input_puts_sampling_parameters_where_the_vllm_worker_reads_them():
    request = build_openai_request("chat", MESSAGES, model="m", params={
        "max_completion_tokens": 9, "temperature": 0.3, "seed": 4, "token_delay": 0})
    native = request.native()
    assert native.body["input"] == {"messages": MESSAGES, "token_delay": 0, "stream": True,
                                    "sampling_params": {"max_tokens": 9, "temperature": 0.3,
                                                        "seed": 4}}
    assert native.request_hash == request.request_hash  # the same question for the cache
    prompt = build_openai_request("completion", "Once", params={"max_tokens": 3}).native()
    assert prompt.body["input"] == {"prompt": "Once", "stream": True,
                                    "sampling_params": {"max_tokens": 3}}
    with pytest.raises(InvalidRequestError, match="one prompt"):
        build_openai_request("completion", ["a", "b"]).native()


def test_a_journaled_request_is_rebuilt_as_it_was_sent():
    request = build_openai_request("completion", "Once", stream=False, params={"seed": 2})
    again = rebuild_openai_request(request.redacted["input"])
    assert again.encoded == request.encoded and again.request_hash == request.request_hash


@pytest.mark.parametrize("question, said", [
    ({"role": "user"}, "list of chat messages"), ([MESSAGES[0], "hi"], "not a dict"),
    ([{"role": "", "content": "x"}], "no 'role'"), ([{"role": "user", "content": 1.5}],
                                                   "content must be text"),
])
def test_malformed_messages_say_what_a_message_is(question, said):
    with pytest.raises(InvalidRequestError, match=said) as caught:
        build_openai_request("chat", question)
    assert "role" in (caught.value.hint or "")


def test_values_json_cannot_carry_are_named():
    with pytest.raises(InvalidRequestError, match=r"request\.temperature"):
        build_openai_request("chat", MESSAGES, params={"temperature": float("nan")})
    with pytest.raises(InvalidRequestError, match="prompt must be a string"):
        build_openai_request("completion", 42)
