"""A streamed OpenAI reply put back together as the object the same request answers whole."""

from __future__ import annotations

from rp_jupyter.formats import assemble_completion, read


def chunk(index, delta=None, finish=None, **extra):
    return {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
            "choices": [{"index": index, "delta": delta or {}, "finish_reason": finish}],
            **extra}


def test_chunks_of_two_choices_become_one_chat_completion_with_usage():
    chunks = [chunk(0, {"role": "assistant", "content": ""}), chunk(1, {"content": "B"}),
              chunk(0, {"content": "Hel"}), [chunk(0, {"content": "lo"})],
              chunk(0, finish="stop"), chunk(1, finish="length"),
              {"id": "c1", "object": "chat.completion.chunk", "choices": [],
               "usage": {"prompt_tokens": 3, "completion_tokens": 3}}]
    whole = assemble_completion(chunks, chat=True)
    assert whole == {
        "id": "c1", "object": "chat.completion", "created": 7, "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello"},
             "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": "B"},
             "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3}}
    assert read(whole).text == "Hello" and read(whole).usage.output == 3


def test_streamed_text_completions_and_reasoning_are_kept():
    text = [{"object": "text_completion", "choices": [{"index": 0, "text": "Once"}]},
            {"object": "text_completion", "choices": [{"index": 0, "text": " upon",
                                                       "finish_reason": "length"}]}]
    assert assemble_completion(text, chat=False)["choices"] == [
        {"index": 0, "text": "Once upon", "finish_reason": "length"}]
    thought = [chunk(0, {"reasoning_content": "hmm"}), chunk(0, {"content": "Yes"}, "stop")]
    message = assemble_completion(thought, chat=True)["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "Yes", "reasoning_content": "hmm"}


def test_a_stream_of_something_else_is_not_a_completion():
    assert assemble_completion(["data: x", {"progress": 1}], chat=True) is None
    assert assemble_completion([], chat=True) is None
