"""A function-calling model behind an unchanged worker script, in a real kernel: the saved
notebook, reopened without a kernel, shows the tool call the model asked for (streamed as
event-stream text split anywhere, or whole), not a blank reply."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import run_and_reopen

pytestmark = pytest.mark.e2e

WORKER = '''
import json
import runpod

CALL = {"index": 0, "id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": ""}}


def events():
    deltas = [{"role": "assistant", "tool_calls": [CALL]},
              {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
              {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}]
    for i, delta in enumerate(deltas):
        chunk = {"object": "chat.completion.chunk", "model": "tool-model", "choices": [
            {"index": 0, "delta": delta, "finish_reason": "tool_calls" if i == 2 else None}]}
        yield "data: " + json.dumps(chunk) + "\\n\\n"
    yield "data: [DONE]\\n\\n"


async def handler(job):
    body = job["input"].get("openai_input") or {}
    if body.get("stream"):
        text = "".join(events())
        for start in range(0, len(text), 13):  # cut wherever the network cuts
            yield text[start:start + 13]
        return
    message = {"role": "assistant", "content": None, "tool_calls": [
        dict(CALL, function={"name": "get_weather", "arguments": '{"city": "Paris"}'})]}
    yield {"object": "chat.completion", "model": "tool-model", "choices": [
        {"index": 0, "message": message, "finish_reason": "tool_calls"}]}


def main():
    runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})


if __name__ == "__main__":
    main()
'''


def test_a_tool_call_shows_live_and_in_the_saved_notebook(tmp_path, rp_home):
    (tmp_path / "worker.py").write_text(WORKER)
    ask = {"openai_route": "/v1/chat/completions", "openai_input": {
        "model": "tool-model", "messages": [{"role": "user", "content": "Weather?"}]}}
    streamed = dict(ask, openai_input=dict(ask["openai_input"], stream=True))
    sources = ["%load_ext rp_jupyter\n%runpod local worker.py --id tools",
               f"%%runpod run tools\n{json.dumps(streamed)}",
               f"%%runpod run tools\n{json.dumps(ask)}",
               "print([c.describe() for c in _.reading.tool_calls])"]
    saved = run_and_reopen(sources, tmp_path, "tools.ipynb")
    for index in (1, 2):
        (shown,) = [o for o in saved.cells[index].outputs if "text/html" in o.get("data", {})]
        assert 'tool call: get_weather({"city": "Paris"})' in shown.data["text/plain"]
        assert "get_weather({&quot;city&quot;: &quot;Paris&quot;})" in shown.data["text/html"]
        assert "data: {" not in shown.data["text/plain"]
    assert saved.cells[3].outputs[0].text == "['get_weather({\"city\": \"Paris\"})']\n"
