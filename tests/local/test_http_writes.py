"""A response's head and body leave in one write; nothing written is held past its step."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from rp_jupyter.local.http_writes import HeldWrites


class Counted:
    """A real transport, with its writes counted."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _pair() -> tuple[Counted, asyncio.StreamReader, asyncio.StreamWriter]:
    """A transport over one end of a socket pair, and the stream at the other end (its
    writer must be kept: it closes that end when collected)."""
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_unix_connection(asyncio.Protocol, sock=ours)
    reader, writer = await asyncio.open_unix_connection(sock=theirs)
    return Counted(transport), reader, writer


def test_what_one_step_writes_leaves_in_one_write_and_arrives_whole():
    async def scenario() -> tuple[list[bytes], bytes]:
        counted, reader, other_end = await _pair()
        held = HeldWrites(counted)
        held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        held.write(b"{}")
        assert counted.writes == []  # still this step
        received = await reader.readexactly(40)
        held.close()
        other_end.close()
        return counted.writes, received

    writes, received = asyncio.run(scenario())
    assert writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert received == writes[0]


def test_a_head_written_alone_leaves_when_its_step_ends():
    async def scenario() -> tuple[list[bytes], bytes]:
        counted, reader, other_end = await _pair()
        held = HeldWrites(counted)
        held.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")  # arrives with no body written
        held.write(b"0\r\n\r\n")
        held.close()  # what is held goes out before the close
        tail = await reader.read()
        other_end.close()
        return counted.writes, head + tail

    writes, received = asyncio.run(scenario())
    assert writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", b"0\r\n\r\n"]
    assert received == b"".join(writes)
