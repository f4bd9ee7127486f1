"""A function-calling model's reply: the calls it asks for, whole or streamed in pieces."""

from __future__ import annotations

import json

from rp_jupyter.formats import output_preview, read_job, read_reply
from rp_jupyter.notebook.format_views import preview_text, render_reply

CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
COMPLETION = {"object": "chat.completion", "model": "m", "choices": [{
    "index": 0, "finish_reason": "tool_calls",
    "message": {"role": "assistant", "content": None, "tool_calls": [CALL]}}]}


def streamed_call_body() -> str:
    deltas = [{"role": "assistant", "tool_calls": [
                  {"index": 0, "id": "call_1", "type": "function",
                   "function": {"name": "get_weather", "arguments": ""}}]},
              {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
              {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}]
    events = [{"object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": delta, "finish_reason": None if i < 2 else "tool_calls"}]}
        for i, delta in enumerate(deltas)]
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"


def test_a_completion_that_calls_a_tool_shows_the_call_not_a_blank_reply():
    reply = read_reply([COMPLETION])  # the openai_route answer: [the completion]
    assert reply.text == "" and reply.finish_reason == "tool_calls"
    (call,) = reply.tool_calls
    assert (call.id, call.describe()) == ("call_1", 'get_weather({"city": "Paris"})')
    shown = render_reply(reply)
    assert 'tool call: get_weather({"city": "Paris"})' in shown.text
    assert "get_weather({&quot;city&quot;: &quot;Paris&quot;})" in shown.html
    assert preview_text(reply) == 'calls get_weather({"city": "Paris"})'
    assert output_preview([COMPLETION]) == 'calls get_weather({"city": "Paris"})'  # jobs table


def test_a_tool_call_streamed_in_pieces_split_anywhere_is_put_back_together():
    body = streamed_call_body()
    for cut in range(0, len(body) + 1, 7):
        for reply in (read_job(None, [body[:cut], body[cut:]]),
                      read_job([body[:cut], body[cut:]], [])):
            assert [c.describe() for c in reply.tool_calls] == [
                'get_weather({"city": "Paris"})'], f"split at {cut}"


def test_the_older_function_call_reads_as_one_tool_call():
    message = {"role": "assistant", "content": None,
               "function_call": {"name": "lookup", "arguments": '{"q": "tides"}'}}
    reply = read_reply({"object": "chat.completion", "choices": [
        {"index": 0, "message": message, "finish_reason": "function_call"}]})
    assert [c.describe() for c in reply.tool_calls] == ['lookup({"q": "tides"})']


def test_a_streamed_chat_reply_put_back_together_keeps_its_tool_calls():
    from rp_jupyter.formats import assemble_completion

    body = streamed_call_body()
    events = [json.loads(line[6:]) for line in body.split("\n\n")
              if line.startswith("data: {")]
    whole = assemble_completion(events, chat=True)
    message = whole["choices"][0]["message"]
    assert message["content"] is None and whole["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"] == [{"id": "call_1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    assert read_reply([whole]).tool_calls[0].describe() == 'get_weather({"city": "Paris"})'
