"""OpenAI event streams read incrementally, split anywhere."""

from __future__ import annotations

import json

import pytest

from rp_jupyter.formats import ReplyStream, SSEReader, read_reply, starts_like_sse

REPLY = "Grüße, café ☕ — 5 € and a \"quote\"\nsecond line"


def sse_body(text: str, *, newline: str = "\n", usage: bool = True) -> str:
    """A chat.completion.chunk event stream whose deltas spell ``text`` (a few chars each)."""
    pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
    objects = [{"object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                             "finish_reason": None}]}]
    objects += [{"object": "chat.completion.chunk", "model": "m",
                 "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
                for p in pieces]
    objects.append({"object": "chat.completion.chunk", "model": "m",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        objects.append({"object": "chat.completion.chunk", "choices": [],
                        "usage": {"prompt_tokens": 7, "completion_tokens": len(pieces)}})
    events = [f"data: {json.dumps(o, ensure_ascii=False)}{newline}{newline}" for o in objects]
    return "".join(events) + f"data: [DONE]{newline}{newline}"


def read_pieces(pieces: list) -> ReplyStream:
    stream = ReplyStream()
    for piece in pieces:
        assert stream.feed(piece) is not None
    stream.finish()
    return stream


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_sse_text_split_at_every_character_reassembles_to_the_same_reply(newline):
    body = sse_body(REPLY, newline=newline)
    for cut in range(len(body) + 1):
        stream = read_pieces([body[:cut], body[cut:]])
        assert stream.reply.text == REPLY, f"split at {cut}"
        assert stream.reply.finish_reason == "stop"
        assert stream.reply.usage is not None and stream.reply.usage.input == 7


def test_sse_bytes_split_at_every_byte_position_reassemble_to_the_same_reply():
    body = sse_body(REPLY).encode("utf-8")
    for cut in range(len(body) + 1):
        stream = read_pieces([body[:cut], body[cut:]])
        assert stream.reply.text == REPLY, f"split at byte {cut}"


def test_sse_fed_one_character_at_a_time_gives_running_text_in_order():
    body = sse_body(REPLY, newline="\r\n")
    stream = ReplyStream()
    shown = "".join(stream.feed(char) for char in body)
    assert shown == REPLY == stream.reply.text
    assert stream.reply.shape == "sse"


def test_a_stream_cut_before_its_last_blank_line_still_counts_its_last_event():
    body = sse_body("abc", usage=False).removesuffix("data: [DONE]\n\n").rstrip("\n")
    stream = read_pieces([body])
    assert stream.reply.text == "abc" and stream.reply.finish_reason == "stop"


def test_the_reader_hands_back_whole_events_and_ignores_comments():
    reader = SSEReader()
    assert reader.feed(': keep-alive\n\ndata: {"a"') == []
    assert reader.feed(": 1}\r") == []
    assert reader.feed("\n\r\ndata: [DO") == ['{"a": 1}']
    assert reader.feed("NE]\n\n") == ["[DONE]"]


def test_whether_text_starts_an_event_stream_waits_until_it_can_tell():
    assert starts_like_sse("") is None
    assert starts_like_sse("da") is None
    assert starts_like_sse("data:  ") is None
    assert starts_like_sse('data: {"id"') is True
    assert starts_like_sse("data:[DONE]") is True
    assert starts_like_sse("dance with me") is False
    assert starts_like_sse("data is the plural of datum") is False


def test_plain_text_that_begins_like_an_event_stream_is_still_text():
    stream = read_pieces(["d", "a", "ta driven ", "decisions"])
    assert stream.mode == "text" and stream.reply.text == "data driven decisions"
    assert read_reply(["d", "a", "ta driven"]) is None  # plain text is not a model's reply


def test_the_aggregated_output_of_an_sse_stream_reads_as_the_reply():
    body = sse_body(REPLY)
    output = [body[i:i + 37] for i in range(0, len(body), 37)]
    reply = read_reply(output)
    assert reply is not None and reply.text == REPLY and reply.shape == "sse"
    assert read_reply("".join(output)).text == REPLY


@pytest.mark.parametrize("preamble", [": ping\n\n", ": keep-alive\r\n\r\n",
                                      "event: message\nid: 1\nretry: 3000\n",
                                      ":\n\nevent: completion\n"])
def test_a_stream_that_opens_with_comments_or_fields_still_reads_as_the_reply(preamble):
    body = preamble + sse_body(REPLY)
    for cut in range(len(body) + 1):
        stream = read_pieces([body[:cut], body[cut:]])
        assert stream.mode == "sse" and stream.reply.text == REPLY, f"split at {cut}"
    stream = ReplyStream()
    assert "".join(stream.feed(char) for char in body) == REPLY
    assert read_reply([body[i:i + 11] for i in range(0, len(body), 11)]).text == REPLY


def test_text_that_only_looks_like_a_comment_or_field_at_first_is_still_text():
    assert starts_like_sse(": ping\n") is None
    assert starts_like_sse("ev") is None
    assert starts_like_sse("every day") is False
    assert starts_like_sse(":) hello\nworld") is False
    stream = read_pieces(["i", "d", "eas ", "grow"])
    assert stream.mode == "text" and stream.reply.text == "ideas grow"
    stream = read_pieces([":)"])
    assert stream.mode == "text" and stream.reply.text == ":)"
