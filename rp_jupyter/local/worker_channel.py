"""The server's end of the socket pair to a worker process it started: a job goes out and
its result comes back, one frame each (:mod:`.channel_frames`), in place of the worker's
``job-take`` and ``job-done`` requests.

The channel waits in the endpoint's queue like a worker's ``job-take`` does, but a job
handed to it is written to the worker at once, inside the call that queued it; a result
is taken in, and the next job handed out, inside the callback that read it.  No task and
no HTTP request per job.

Everything else a worker sends (streamed chunks, progress updates, a handler that cannot
load) still goes through the HTTP worker routes (:mod:`.protocol`), which also serve every
worker the server did not start.  A worker that runs several jobs at once says so in its
first frame and takes its jobs over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from rp_jupyter.local.channel_frames import READY, frame, split_frames

UNREADABLE_RESULT = "the worker sent a result that is not valid JSON"
_PAYLOAD = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
LOADING, IDLE, BUSY, OVER_HTTP, CLOSED = "loading", "idle", "busy", "over http", "closed"


class WorkerChannel(asyncio.Protocol):
    """Hands one worker its jobs and takes their results, until the worker is gone.

    ``runtime`` is the endpoint's :class:`~rp_jupyter.local.server_endpoint.ServerEndpoint`:
    jobs come from its queue and results go to its ``job_done``, as over HTTP.  To the
    queue the channel is a waiting taker, like a ``job-take`` request's future
    (``done``, ``cancel``, ``set_result``).
    """

    def __init__(self, runtime: Any, worker_id: str, sock: socket.socket) -> None:
        self.runtime = runtime
        self.worker_id = worker_id
        self.state = LOADING
        self.job_id: str | None = None
        self._sock = sock
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_task(
            loop.create_unix_connection(lambda: self, sock=self._sock))

    def close(self) -> None:
        """Stop handing jobs out (the worker exited or is retired, or the server stops)."""
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.runtime.queue.drop_taker(self.worker_id)
        if self._transport is not None:
            self._transport.close()
        else:
            self._connecting.cancel()
            self._sock.close()

    # -- the queue's side: a waiting taker -------------------------------------------

    def done(self) -> bool:
        """Whether the channel no longer waits for a job."""
        return self.state != IDLE

    def cancel(self) -> None:
        """The queue refuses this worker a job (it is being retired or stopped)."""
        self.close()

    def set_result(self, job: Any) -> None:
        """Send the worker the job the queue handed to it."""
        self.state = BUSY
        self.job_id = job.id
        assert self._transport is not None
        self._transport.write(frame(_PAYLOAD.encode(job.payload()).encode()))

    # -- the worker's side ------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        if self.state == CLOSED:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()  # a job it held is failed when its process's exit is seen

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        for raw in split_frames(self._buffer):
            if self.state == LOADING:
                if raw != READY:
                    self.state = OVER_HTTP
                    return
                self._ask()
            elif self.state == BUSY:
                self._take_result(raw)
                self._ask()

    def _take_result(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
            job_id, result = message["id"], message["result"]
            if not isinstance(result, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            job_id, result = self.job_id, {"error": UNREADABLE_RESULT}
        self.job_id = None
        self.runtime.job_done(self.worker_id, job_id, result)

    def _ask(self) -> None:
        """Wait in the queue for the next job (handed over at once if one is queued)."""
        pool = self.runtime.pool
        if self.state == CLOSED:
            return
        if not pool.may_take(self.worker_id):
            self.close()
            return
        pool.waiting(self.worker_id)
        self.state = IDLE
        self.runtime.queue.wait_with(self.worker_id, self)
