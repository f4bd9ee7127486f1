"""Tool calls in a model's reply: what a function-calling model asks for instead of text.

A ``chat.completion`` holds them whole in ``message.tool_calls``; a stream of
``chat.completion.chunk`` events sends them in pieces in ``delta.tool_calls``: the first
piece of each call (by its ``index``) carries its id and function name, later pieces
carry more of its ``arguments`` text.  The older ``function_call`` is read as one call.

Example::

    calls: list[ToolCall] = []
    first = {"index": 0, "function": {"name": "f", "arguments": '{"a'}}
    merge_tool_calls(calls, {"tool_calls": [first]})
    merge_tool_calls(calls, {"tool_calls": [{"index": 0, "function": {"arguments": '": 1}'}}]})
    calls[0].describe()        # 'f({"a": 1})'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ToolCall", "merge_tool_calls"]

MAX_CALLS = 64


@dataclass
class ToolCall:
    """One call the model asks for: the function's name and its arguments (JSON text)."""

    name: str = ""
    arguments: str = ""
    id: str | None = None

    def describe(self) -> str:
        """``get_weather({"city": "Paris"})``."""
        return f"{self.name or '?'}({self.arguments})"


def merge_tool_calls(calls: list[ToolCall], holder: dict[str, Any]) -> None:
    """Add the tool calls in a ``message`` or ``delta`` to ``calls`` (pieces of a streamed
    call are joined onto the call of the same index)."""
    pieces = holder.get("tool_calls")
    if isinstance(holder.get("function_call"), dict):
        pieces = [{"index": 0, "function": holder["function_call"]}]
    if not isinstance(pieces, list):
        return
    for position, piece in enumerate(pieces):
        if not isinstance(piece, dict):
            continue
        index = piece.get("index", position)
        if not isinstance(index, int) or not 0 <= index < MAX_CALLS:
            index = position
        while len(calls) <= index:
            calls.append(ToolCall())
        _merge(calls[index], piece)


def _merge(call: ToolCall, piece: dict[str, Any]) -> None:
    if isinstance(piece.get("id"), str) and piece["id"]:
        call.id = piece["id"]
    function = piece.get("function")
    if not isinstance(function, dict):
        return
    name = function.get("name")
    if isinstance(name, str) and name and not call.name:
        call.name = name
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        call.arguments += arguments
    elif isinstance(arguments, dict):  # some servers send the arguments as an object
        call.arguments += json.dumps(arguments, ensure_ascii=False)
