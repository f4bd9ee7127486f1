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
from collections import deque

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


class FrameReader:
    """The frames arriving on a blocking socket, each read in one system call when it
    came in one piece (not a call for its length and another for its bytes)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self._frames: deque[bytes] = deque()

    def next(self) -> bytes | None:
        """The next frame, or ``None`` once the other side closed the socket."""
        while not self._frames:
            data = self._sock.recv(65536)
            if not data:
                return None
            self._buffer += data
            self._frames.extend(split_frames(self._buffer))
        return self._frames.popleft()
