"""Limits on a request's head, whichever HTTP parser uvicorn runs (httptools or h11).

The bytes of each request head (request line and headers) are counted as they arrive,
before the parser buffers them; past ``max_header_bytes`` the server answers
``431 Request Header Fields Too Large`` and closes the connection, so a client sending a
64 MiB header costs the server one read buffer, not 64 MiB.  After the answer the rest
of what the client sends is read and dropped for a moment (a lingering close), so the
client can read the 431 instead of meeting a reset connection.

The number of headers is checked by the application (:mod:`.app`), which sees them all.
This module imports uvicorn, so it is only imported once a server starts.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from rp_jupyter.local.endpoint_settings import MAX_HEADER_BYTES

LINGER_SECONDS = 2.0
#: h11 keeps its own limit on what it buffers (set from the server's config); ours must
#: trip first.
H11_BUFFER_MARGIN = 256 * 1024


def header_problem(count: int, limit: int) -> str:
    """The 431 message for too many headers (used by the application)."""
    return f"request header fields too large: {count} headers, at most {limit}"


class HeadLimit:
    """Mixin for a uvicorn HTTP protocol: counts each request head's bytes before the
    parser sees them and refuses a head over ``max_header_bytes`` with a 431."""

    max_header_bytes: int = MAX_HEADER_BYTES
    transport: Any
    cycle: Any

    def connection_made(self, transport: Any) -> None:
        self._restart_head()
        self._refused = False
        self._linger: asyncio.TimerHandle | None = None
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped until the lingering close
        self._maybe_next_head()
        if self._in_head and not self._count_head(data):
            self._refuse()
            return
        super().data_received(data)  # type: ignore[misc]

    # -- counting --------------------------------------------------------------------

    def _restart_head(self) -> None:
        self._in_head = True
        self._started = False
        self._head_bytes = 0
        self._tail = b""

    def _maybe_next_head(self) -> None:
        """Parser-specific: notice that the previous request has ended."""

    def _count_head(self, data: bytes) -> bool:
        """Add the head bytes in ``data``; False once the head is over the limit."""
        if not self._started:  # empty lines may come before a request line
            data = data.lstrip(b"\r\n")
            if not data:
                return True
            self._started = True
        window = self._tail + data
        end = _head_end(window)
        if end < 0:
            self._head_bytes += len(data)
            self._tail = window[-3:]
        else:
            self._head_bytes += end - len(self._tail)
            self._in_head = False
        return self._head_bytes <= self.max_header_bytes

    # -- refusing --------------------------------------------------------------------

    def _refuse(self) -> None:
        self._refused = True
        transport = self.transport
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            transport.close()  # an answer is being written on this connection: just go
            return
        message = (f"request header fields too large: more than {self.max_header_bytes} "
                   "bytes of request line and headers")
        body = json.dumps({"error": message}).encode()
        transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                        b"content-type: application/json\r\n"
                        b"content-length: " + str(len(body)).encode() + b"\r\n"
                        b"connection: close\r\n\r\n" + body)
        if transport.can_write_eof():
            transport.write_eof()
        loop = asyncio.get_running_loop()
        self._linger = loop.call_later(LINGER_SECONDS, transport.close)


def _head_end(window: bytes) -> int:
    """The index just past the blank line ending a head in ``window``, or -1."""
    ends = [i + n for i, n in ((window.find(b"\r\n\r\n"), 4), (window.find(b"\n\n"), 2))
            if i >= 0]
    return min(ends) if ends else -1


class LimitedH11Protocol(HeadLimit, H11Protocol):
    """uvicorn's h11 protocol with the head limit."""

    def _maybe_next_head(self) -> None:
        if not self._in_head and self.conn.their_state is h11.IDLE:
            self._restart_head()


def limited_protocol(kind: str, max_header_bytes: int) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's ``http=`` setting: ``"h11"``, ``"httptools"`` or
    ``"auto"`` (httptools when it is installed, as uvicorn itself picks)."""
    if kind == "auto":
        try:
            import httptools  # noqa: F401
        except ImportError:
            kind = "h11"
        else:
            kind = "httptools"
    if kind == "h11":
        base: type = LimitedH11Protocol
    elif kind == "httptools":
        base = _limited_httptools()
    else:
        raise ValueError(f"http must be 'auto', 'h11' or 'httptools', not {kind!r}")
    return type(base.__name__, (base,), {"max_header_bytes": max_header_bytes})


def _limited_httptools() -> type:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class LimitedHttpToolsProtocol(HeadLimit, HttpToolsProtocol):
        """uvicorn's httptools protocol with the head limit."""

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._restart_head()

    return LimitedHttpToolsProtocol
