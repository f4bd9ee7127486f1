"""Frames on the socket pair between a local server and a worker process it started.

Each frame is a 4-byte big-endian length, then that many bytes of JSON.  The server sends
a job (the dict a handler receives); the worker answers ``{"ready": true}`` once its
handler is loaded (``{"http": true}`` when it takes jobs over HTTP instead: a worker that
runs several jobs at once) and ``{"id": job_id, "result": {...}}`` after each job.
Stdlib only: the worker side imports it before the handler.
"""

from __future__ import annotations

import json
import socket
import struct

HEADER = struct.Struct("!I")
READY = b'{"ready":true}'
OVER_HTTP = b'{"http":true}'


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def result_frame(job_id: str, encoded_result: bytes) -> bytes:
    """The frame reporting a job's result (already encoded as JSON)."""
    return frame(b'{"id":' + json.dumps(job_id).encode() + b',"result":' + encoded_result + b"}")


def split_frames(buffer: bytearray) -> list[bytes]:
    """Take every whole frame off the front of ``buffer``."""
    frames, start, size = [], 0, len(buffer)
    while size - start >= HEADER.size:
        (length,) = HEADER.unpack_from(buffer, start)
        end = start + HEADER.size + length
        if end > size:
            break
        frames.append(bytes(buffer[start + HEADER.size:end]))
        start = end
    del buffer[:start]
    return frames


def receive_frame(sock: socket.socket) -> bytes | None:
    """The next frame from a blocking socket, or ``None`` once the other side closed it."""
    header = _receive_exactly(sock, HEADER.size)
    if header is None:
        return None
    return _receive_exactly(sock, HEADER.unpack(header)[0])


def _receive_exactly(sock: socket.socket, size: int) -> bytes | None:
    view = memoryview(bytearray(size))
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            return None
        got += n
    return bytes(view)
