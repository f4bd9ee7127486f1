"""One system call for a response's head and body, whichever HTTP parser uvicorn runs.

uvicorn writes a response's status line and headers, then its body, as two writes: two
``send`` calls on the server and two segments for the client to read.  Here what a
connection writes during one step of the event loop is held and sent together at the end
of that step, so a small answer leaves in one piece; a streamed answer's head still goes
out as soon as the step that wrote it ends.
"""

from __future__ import annotations

import asyncio
from typing import Any


class HeldWrites:
    """A connection's transport, as uvicorn's protocol sees it: writes are joined until the
    current step of the event loop ends; everything else is the transport's own."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._held: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def write_now(self, data: bytes) -> None:
        """Write ``data`` at once, after whatever is held."""
        self.flush()
        self._transport.write(data)

    def flush(self) -> None:
        if not self._held:
            return
        data = b"".join(self._held) if len(self._held) > 1 else self._held[0]
        self._held.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class JoinedWrites:
    """Mixin for a uvicorn HTTP protocol: its transport is a :class:`HeldWrites`."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(HeldWrites(transport))  # type: ignore[misc]


def with_joined_writes(protocol: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """``protocol`` (a uvicorn HTTP protocol class) with :class:`JoinedWrites`."""
    return type(protocol.__name__, (JoinedWrites, protocol), {})
