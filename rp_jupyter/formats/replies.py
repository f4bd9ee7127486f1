"""LLM replies: vLLM token batches, OpenAI objects and OpenAI event streams, read as text.

Shapes recognised (reference/workers.md has the sources):

- the vLLM worker's own batches ``{"choices": [{"tokens": [...]}], "usage": {"input": N,
  "output": M}}``, alone or wrapped in a list, streamed one per yield and aggregated into
  the list of every batch;
- OpenAI objects: ``chat.completion``, ``text_completion`` and ``chat.completion.chunk``
  (alone, in a list, or a list of lists);
- OpenAI server-sent events as text (``data: {...}\\n\\n`` ... ``data: [DONE]``), split
  anywhere across chunks;
- tool calls (``message.tool_calls``, or streamed in ``delta.tool_calls``);
- errors: ``{"error": {...}}`` and ``{"object": "error", "message": ...}``.

:class:`ReplyStream` reads chunk after chunk and says what text each one added, so a panel
can show running text; :func:`read_reply` reads a whole output.

Example::

    stream = ReplyStream()
    stream.feed({"choices": [{"tokens": ["Once", " upon"]}], "usage": {"input": 5, "output": 2}})
    # 'Once upon'
    stream.reply.text, stream.reply.usage.output      # ('Once upon', 2)
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from typing import Any

from rp_jupyter.formats.error_messages import error_message
from rp_jupyter.formats.sniff import looks_like_image
from rp_jupyter.formats.sse import DONE, SSEReader, starts_like_sse
from rp_jupyter.formats.tool_calls import ToolCall, merge_tool_calls

__all__ = ["Reply", "ReplyStream", "Usage", "is_reply_object", "read_reply"]

OPENAI_OBJECTS = ("chat.completion", "chat.completion.chunk", "text_completion")


@dataclass(frozen=True)
class Usage:
    """Token counts, where the worker reported them."""

    input: int | None = None
    output: int | None = None

    @classmethod
    def parse(cls, value: Any) -> Usage | None:
        if not isinstance(value, dict):
            return None
        given = _count(value.get("input", value.get("prompt_tokens")))
        made = _count(value.get("output", value.get("completion_tokens")))
        if given is None and made is None:
            return None
        return cls(given, made)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


@dataclass
class Reply:
    """A model's reply: the text of each choice, why it stopped, the token counts.

    ``shape`` says what it was read from: ``"vllm"`` (token batches), ``"openai"``
    (completion objects), ``"sse"`` (an event stream as text) or ``"text"`` (plain text
    chunks).  ``error`` holds a readable message when the worker answered with an error.
    """

    shape: str = "text"
    choices: list[list[str]] = field(default_factory=lambda: [[]])
    reasoning: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)  # of the first choice
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    error: str | None = None
    events: int = 0  # batches, objects or events read
    malformed: int = 0  # events that were not JSON

    @property
    def text(self) -> str:
        """The text of the first choice (the reply people read)."""
        return "".join(self.choices[0]) if self.choices else ""

    def gist(self) -> str:
        """What a preview shows: the text, else the error, else the tool calls asked for."""
        if self.text or not (self.error or self.tool_calls):
            return self.text
        if self.error:
            return f"error: {self.error}"
        return "; ".join(f"calls {call.describe()}" for call in self.tool_calls)

    @property
    def texts(self) -> list[str]:
        """The text of every choice (``n`` > 1 asks for several)."""
        return ["".join(parts) for parts in self.choices]

    @property
    def reasoning_text(self) -> str:
        return "".join(self.reasoning)

    def tokens_per_second(self, seconds: float | None) -> float | None:
        """Output tokens per second of ``seconds`` (the run time), when both are known."""
        if self.usage is None or self.usage.output is None or not seconds or seconds <= 0:
            return None
        return self.usage.output / seconds

    def footer(self, seconds: float | None = None) -> str:
        """``12 tokens in · 250 out · 48.1 tokens/s · finish: stop``, from what is known."""
        parts = []
        if self.usage is not None:
            if self.usage.input is not None:
                parts.append(f"{self.usage.input:,} tokens in")
            if self.usage.output is not None:
                parts.append(f"{self.usage.output:,} out")
        rate = self.tokens_per_second(seconds)
        if rate is not None:
            parts.append(f"{rate:,.1f} tokens/s")
        if self.finish_reason:
            parts.append(f"finish: {self.finish_reason}")
        if self.model:
            parts.append(f"model {self.model}")
        return " · ".join(parts)

    # -- accumulating (ReplyStream calls these) --------------------------------------------

    def _append(self, index: int, text: str) -> None:
        while len(self.choices) <= index:
            self.choices.append([])
        if text:
            self.choices[index].append(text)


def is_reply_object(value: Any) -> bool:
    """A single vLLM batch, OpenAI completion object or OpenAI-style error."""
    if not isinstance(value, dict):
        return False
    if value.get("object") in OPENAI_OBJECTS or value.get("object") == "error":
        return True
    choices = value.get("choices")
    if isinstance(choices, list) and choices and all(isinstance(c, dict) for c in choices):
        first = choices[0]
        return any(key in first for key in ("tokens", "delta", "message", "text"))
    if isinstance(choices, list) and not choices and "usage" in value:
        return True  # the usage-only last chunk of a stream
    error = value.get("error")
    return isinstance(error, dict) and "message" in error


class ReplyStream:
    """Reads a job's chunks one by one (see the module docstring).

    :meth:`feed` returns the text a chunk added to the first choice (``""`` when it added
    none, e.g. the usage batch or half an event), or ``None`` when the chunk is not part
    of a reply or a text stream (a picture, a progress dict): those are for others to show.
    With ``keep_text=False`` the text is handed on but not kept (``reply.text`` stays empty).
    """

    def __init__(self, *, keep_text: bool = True) -> None:
        self.reply = Reply()
        self.keep_text = keep_text  # False: only hand the text on (a bounded live view)
        self.mode: str | None = None  # "text", "sse", or None until strings have told
        self._pending = ""  # leading text that may still turn out to be an event stream
        self._sse: SSEReader | None = None
        self._decoder: codecs.IncrementalDecoder | None = None

    @property
    def is_reply(self) -> bool:
        """True once a chunk showed this is a model's reply (not plain text)."""
        return self.reply.shape != "text"

    def feed(self, chunk: Any) -> str | None:
        if isinstance(chunk, (str, bytes, bytearray)):
            return self._feed_text(chunk)
        if isinstance(chunk, dict):
            if not is_reply_object(chunk):
                return None
            return self._apply(chunk, "vllm" if _is_vllm_batch(chunk) else "openai")
        if isinstance(chunk, list) and chunk and _all_reply_objects(chunk):
            return "".join(self.feed(item) or "" for item in chunk)
        return None

    def finish(self) -> str:
        """The stream is over: text held back while undecided, and a cut last event."""
        added = ""
        if self._decoder is not None:  # bytes that ended mid-character
            rest = self._decoder.decode(b"", final=True)
            added += (self._feed_text(rest) or "") if rest else ""
        if self.mode is None and self._pending:
            self.mode = "text"
            self._keep(0, self._pending)
            added += self._pending
            self._pending = ""
        elif self._sse is not None:
            added += "".join(self._event(data) for data in self._sse.close())
        return added

    # -- text ------------------------------------------------------------------------------

    def _feed_text(self, chunk: str | bytes | bytearray) -> str | None:
        if isinstance(chunk, str):
            text = chunk
        else:  # bytes may end mid-character: the decoder keeps the rest for the next piece
            if self._decoder is None:
                self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            text = self._decoder.decode(bytes(chunk))
        if self.mode == "sse":
            assert self._sse is not None
            return "".join(self._event(data) for data in self._sse.feed(text))
        if self.mode == "text":
            if looks_like_image(text):
                return None
            self._keep(0, text)
            return text
        if not self._pending and looks_like_image(text):
            return None
        self._pending += text
        verdict = starts_like_sse(self._pending)
        if verdict is None:
            return ""
        pending, self._pending = self._pending, ""
        if verdict:
            self.mode = "sse"
            self.reply.shape = "sse"
            self._sse = SSEReader()
            return "".join(self._event(data) for data in self._sse.feed(pending))
        self.mode = "text"
        self._keep(0, pending)
        return pending

    def _event(self, data: str) -> str:
        if data.strip() == DONE:
            return ""
        try:
            value = json.loads(data)
        except ValueError:
            self.reply.malformed += 1
            return ""
        if isinstance(value, dict):
            return self._apply(value, "sse")
        return ""

    def _keep(self, index: int, text: str) -> None:
        if self.keep_text:
            self.reply._append(index, text)
        elif index >= len(self.reply.choices):
            self.reply._append(index, "")

    # -- objects ---------------------------------------------------------------------------

    def _apply(self, value: dict[str, Any], shape: str) -> str:
        reply = self.reply
        if reply.shape == "text":
            reply.shape = shape
        reply.events += 1
        message = _error_of(value)
        if message is not None:
            reply.error = message
            return ""
        reply.model = value.get("model") or reply.model
        usage = Usage.parse(value.get("usage"))
        if usage is not None:
            reply.usage = usage
        added = ""
        for position, choice in enumerate(value.get("choices") or []):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", position)
            index = index if isinstance(index, int) and 0 <= index < 64 else position
            text = _choice_text(choice)
            self._keep(index, text)
            if index == 0:
                added += text
                thought = _choice_reasoning(choice)
                if thought and self.keep_text:
                    reply.reasoning.append(thought)
                for holder in (choice.get("delta"), choice.get("message")):
                    if isinstance(holder, dict):
                        merge_tool_calls(reply.tool_calls, holder)
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and index == 0:
                reply.finish_reason = reason
        return added


def _is_vllm_batch(value: dict[str, Any]) -> bool:
    choices = value.get("choices")
    return bool(choices) and isinstance(choices[0], dict) and "tokens" in choices[0]


def _all_reply_objects(items: list[Any]) -> bool:
    return all(
        is_reply_object(item) or (isinstance(item, list) and item and _all_reply_objects(item))
        for item in items
    )


def _choice_text(choice: dict[str, Any]) -> str:
    tokens = choice.get("tokens")
    if isinstance(tokens, list):
        return "".join(t for t in tokens if isinstance(t, str))
    for holder in (choice.get("delta"), choice.get("message")):
        if isinstance(holder, dict):
            content = holder.get("content")
            return content if isinstance(content, str) else ""
    text = choice.get("text")
    return text if isinstance(text, str) else ""


def _choice_reasoning(choice: dict[str, Any]) -> str:
    for holder in (choice.get("delta"), choice.get("message")):
        if isinstance(holder, dict):
            thought = holder.get("reasoning_content") or holder.get("reasoning")
            return thought if isinstance(thought, str) else ""
    return ""


def _error_of(value: dict[str, Any]) -> str | None:
    if value.get("object") == "error" or isinstance(value.get("error"), dict):
        return error_message(value) or "the worker answered with an error"
    return None


def _may_be_reply(value: Any) -> bool:
    """A cheap first look (a panel asks about every chunk): could ``value`` be a reply?"""
    if isinstance(value, str):
        return starts_like_sse(value) is not False
    if isinstance(value, dict):
        return is_reply_object(value)
    if isinstance(value, list) and value:
        return _may_be_reply(value[0])
    return False


def read_reply(value: Any) -> Reply | None:
    """The reply in a whole output (or list of chunks), or ``None`` if it holds none.

    Plain text is not a reply: ``read_reply(["a", "b"])`` is ``None``.
    """
    if not _may_be_reply(value):
        return None
    stream = ReplyStream()
    items = value if isinstance(value, list) else [value]
    if not items:
        return None
    for item in items:
        if stream.feed(item) is None:
            return None
    stream.finish()
    return stream.reply if stream.is_reply else None
