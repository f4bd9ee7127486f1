"""A streamed OpenAI reply put back together: the chunk objects of a stream
(``chat.completion.chunk``, or streamed ``text_completion``) as the one object the same
request answers without streaming (``chat.completion`` / ``text_completion``).

So a reply reads the same whether it streamed or not: ``output["choices"][0]["message"]``
holds the whole text, ``finish_reason`` and ``usage`` are where a client looks for them.

Example::

    chunks = [{"id": "c1", "object": "chat.completion.chunk", "model": "m",
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]},
              {"id": "c1", "object": "chat.completion.chunk", "model": "m",
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
    assemble_completion(chunks, chat=True)["choices"][0]["message"]["content"]   # 'Hi'
"""

from __future__ import annotations

from typing import Any

from rp_jupyter.formats.tool_calls import merge_tool_calls

__all__ = ["assemble_completion"]

MAX_CHOICES = 64


def assemble_completion(chunks: list[Any], *, chat: bool) -> dict[str, Any] | None:
    """The whole completion the chunks stream, or ``None`` when none of them is a chunk
    object (a stream of something else)."""
    head: dict[str, Any] | None = None
    usage: Any = None
    choices: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for item in chunk if isinstance(chunk, list) else [chunk]:
            if not isinstance(item, dict) or not isinstance(item.get("choices"), list):
                continue
            if head is None:
                head = item
            if item.get("usage"):
                usage = item["usage"]
            for position, choice in enumerate(item["choices"]):
                if isinstance(choice, dict):
                    _merge(choices, position, choice, chat)
    if head is None:
        return None
    whole: dict[str, Any] = {
        "id": head.get("id"),
        "object": "chat.completion" if chat else "text_completion",
        "created": head.get("created"),
        "model": head.get("model"),
        "choices": [_finished(choices[i], chat) for i in sorted(choices)],
    }
    if usage is not None:
        whole["usage"] = usage
    return whole


def _merge(choices: dict[int, dict[str, Any]], position: int, choice: dict[str, Any],
           chat: bool) -> None:
    index = choice.get("index", position)
    if not isinstance(index, int) or not 0 <= index < MAX_CHOICES:
        index = position
    found = choices.setdefault(index, {"index": index, "role": "assistant", "parts": [],
                                       "reasoning": [], "tool_calls": [],
                                       "finish_reason": None})
    if chat:
        delta = choice.get("delta") or choice.get("message") or {}
        if isinstance(delta, dict):
            if isinstance(delta.get("role"), str):
                found["role"] = delta["role"]
            if isinstance(delta.get("content"), str):
                found["parts"].append(delta["content"])
            thought = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(thought, str):
                found["reasoning"].append(thought)
            merge_tool_calls(found["tool_calls"], delta)
    elif isinstance(choice.get("text"), str):
        found["parts"].append(choice["text"])
    if choice.get("finish_reason") is not None:
        found["finish_reason"] = choice["finish_reason"]


def _finished(found: dict[str, Any], chat: bool) -> dict[str, Any]:
    text = "".join(found["parts"])
    choice: dict[str, Any] = {"index": found["index"]}
    if chat:
        message: dict[str, Any] = {"role": found["role"], "content": text}
        if found["reasoning"]:
            message["reasoning_content"] = "".join(found["reasoning"])
        if found["tool_calls"]:
            message["content"] = text or None
            message["tool_calls"] = [
                {"id": call.id, "type": "function",
                 "function": {"name": call.name, "arguments": call.arguments}}
                for call in found["tool_calls"]]
        choice["message"] = message
    else:
        choice["text"] = text
    choice["finish_reason"] = found["finish_reason"]
    return choice
