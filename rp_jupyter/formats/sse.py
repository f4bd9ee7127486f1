"""Server-sent events read incrementally: text split anywhere, events out whole.

OpenAI-compatible servers stream ``data: {...}\\n\\n`` events ending with ``data: [DONE]``;
a worker that relays the HTTP body passes it on in pieces cut wherever the network cut it
(mid-line, mid-``\\r\\n``, mid-character when the pieces are bytes).  :class:`SSEReader`
buffers what is incomplete and hands back each event's data once its blank line arrives.

Example::

    reader = SSEReader()
    reader.feed('data: {"a"')          # []
    reader.feed(': 1}\\n\\ndata: [DO')    # ['{"a": 1}']
    reader.feed("NE]\\n\\n")             # ['[DONE]']
"""

from __future__ import annotations

import codecs
import re

__all__ = ["DONE", "SSEReader", "starts_like_sse"]

DONE = "[DONE]"
_LINE_END = re.compile(r"\r\n|\r|\n")
# what an OpenAI-style event stream starts with: a data field holding JSON or [DONE]
# what may come before the first data field: comments (": ...") and these fields
_PREAMBLE_FIELDS = ("event:", "id:", "retry:")
_OPENINGS = ("data: {", "data:{", "data: [DONE]", "data:[DONE]", "data: [", "data:[")


class SSEReader:
    """Incremental reader of a server-sent-events body (see the module docstring)."""

    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []
        self._after_cr = False  # the last piece ended in "\r": a leading "\n" belongs to it
        self._decoder: codecs.IncrementalDecoder | None = None

    def feed(self, piece: str | bytes) -> list[str]:
        """Add one piece of the body; returns the data of every event it completed."""
        if isinstance(piece, (bytes, bytearray, memoryview)):
            if self._decoder is None:
                self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            piece = self._decoder.decode(bytes(piece))
        if not piece:
            return []
        if self._after_cr and piece.startswith("\n"):
            piece = piece[1:]
        self._after_cr = piece.endswith("\r")
        text = self._buffer + piece
        events: list[str] = []
        start = 0
        for match in _LINE_END.finditer(text):
            self._line(text[start:match.start()], events)
            start = match.end()
        self._buffer = text[start:]
        return events

    def close(self) -> list[str]:
        """The end of the body: an unterminated last event still counts (a cut stream)."""
        events: list[str] = []
        if self._decoder is not None:
            rest = self._decoder.decode(b"", final=True)
            if rest:
                events += self.feed(rest)
        if self._buffer:
            self._line(self._buffer, events)
            self._buffer = ""
        self._line("", events)
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data = []
            return
        if line.startswith(":"):  # a comment (keep-alive)
            return
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)


def starts_like_sse(text: str) -> bool | None:
    """Does a stream that begins with ``text`` carry OpenAI-style events?  ``None`` while
    ``text`` is too short to tell (``"da"`` may become ``"data: {"`` or ``"dance"``).

    Keep-alive comments (``: ping``) and ``event:``/``id:``/``retry:`` lines may come
    before the first data field, as proxies and SSE servers send them."""
    head = text.lstrip("\r\n")
    while True:
        match = _LINE_END.search(head)
        line = head if match is None else head[:match.start()]
        if not _is_preamble(line, complete=match is not None):
            break
        if match is None:
            return None  # a comment or field line that has not ended yet
        head = head[match.end():].lstrip("\r\n")
    if head.startswith(_OPENINGS):
        return True
    if any(opening.startswith(head) for opening in _OPENINGS):
        return None
    if head.startswith("data:") and not head[5:].strip():
        return None  # "data:   " : the value has not begun yet
    return False


def _is_preamble(line: str, *, complete: bool) -> bool:
    """A comment or a non-data field line, which may precede an event stream's data
    (while ``line`` is incomplete: one that may still become such a line)."""
    if line.startswith(":"):
        return True
    if line.startswith(_PREAMBLE_FIELDS):
        return True
    return not complete and bool(line) and any(f.startswith(line) for f in _PREAMBLE_FIELDS)
