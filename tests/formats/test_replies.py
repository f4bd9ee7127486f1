"""vLLM token batches and OpenAI objects read as a reply: text, finish reason, usage."""

from __future__ import annotations

from rp_jupyter.formats import ReplyStream, Usage, error_message, read, read_reply

BATCHES = [
    {"choices": [{"tokens": ["Once"]}], "usage": {"input": 4, "output": 1}},
    {"choices": [{"tokens": [" upon", " a", " time"]}], "usage": {"input": 4, "output": 4}},
    {"choices": [{"tokens": [","]}], "usage": {"input": 4, "output": 5}},
]


def test_vllm_batches_stream_as_running_text_with_token_counts():
    stream = ReplyStream()
    assert [stream.feed(b) for b in BATCHES] == ["Once", " upon a time", ","]
    assert stream.reply.text == "Once upon a time,"
    assert stream.reply.usage == Usage(4, 5)
    assert stream.reply.shape == "vllm"
    assert stream.reply.footer(2.0) == "4 tokens in · 5 out · 2.5 tokens/s"


def test_vllm_batches_wrapped_in_a_list_per_yield_read_the_same():
    stream = ReplyStream()
    assert [stream.feed([b]) for b in BATCHES] == ["Once", " upon a time", ","]
    assert read_reply([[b] for b in BATCHES]).text == "Once upon a time,"
    assert read_reply(BATCHES).text == "Once upon a time,"


def test_several_choices_keep_their_own_text():
    batch = {"choices": [{"tokens": ["a", "b"]}, {"tokens": ["x"]}], "usage": {"output": 3}}
    reply = read_reply([batch, {"choices": [{"tokens": ["c"]}, {"tokens": ["y"]}]}])
    assert reply.texts == ["abc", "xy"] and reply.text == "abc"


def test_openai_completion_objects_give_text_finish_reason_and_usage():
    chat = {"id": "c", "object": "chat.completion", "model": "llama",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!",
                                                 "reasoning_content": "greet"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}
    reply = read_reply(chat)
    assert (reply.text, reply.finish_reason, reply.usage, reply.model) == (
        "Hi!", "stop", Usage(9, 2), "llama")
    assert reply.reasoning_text == "greet"
    assert read_reply([chat]).text == "Hi!"  # the OpenAI route's [dict]
    text = {"object": "text_completion", "choices": [{"index": 0, "text": "42",
                                                      "finish_reason": "length"}]}
    assert read_reply(text).text == "42" and read_reply(text).finish_reason == "length"


def test_batches_of_chunk_objects_as_the_in_process_worker_yields_them():
    chunk = {"object": "chat.completion.chunk",
             "choices": [{"index": 0, "delta": {"content": "to"}, "finish_reason": None}]}
    last = {"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": "ken"}, "finish_reason": "stop"}]}
    stream = ReplyStream()
    assert stream.feed([chunk, chunk]) == "toto"
    assert stream.feed([last]) == "ken"
    assert stream.reply.text == "totoken" and stream.reply.finish_reason == "stop"
    assert read_reply([[chunk], [last]]).text == "token"  # the aggregated output


def test_errors_read_as_one_line():
    vllm = {"object": "error", "message": "max_tokens is too large", "type": "BadRequestError",
            "param": None, "code": 400}
    assert read_reply([vllm]).error == "BadRequestError: max_tokens is too large (code 400)"
    assert error_message({"error": {"message": "no such model", "type": "NotFoundError"}}) == (
        "NotFoundError: no such model")
    # runpod-python fails a job with str() of a yielded {"error": {...}}: a Python repr
    relayed = str({"message": 'vLLM returned HTTP 400: {"object":"error","message":"too long",'
                              '"type":"BadRequestError","param":null,"code":400}',
                   "type": "worker_error", "code": None})
    assert error_message(relayed) == (
        "worker_error: vLLM returned HTTP 400: BadRequestError: too long (code 400)")
    assert error_message("RuntimeError: boom") is None
    assert error_message({"error_type": "ValueError", "error_message": "x"}) is None


def test_chunks_that_are_not_part_of_a_reply_are_left_for_others():
    stream = ReplyStream()
    assert stream.feed({"step": 1, "steps": 3}) is None
    assert stream.feed({"chunk": 0}) is None
    assert stream.feed("iVBORw0KGgo" + "A" * 80) is None  # a picture
    assert stream.feed(7) is None
    assert not stream.is_reply


def test_plain_values_are_not_read_as_worker_shapes():
    for value in ("hello", ["a", "b"], {"echo": {"x": 1}}, 42, None, [], {"choices": []}):
        assert read(value) is None, value
