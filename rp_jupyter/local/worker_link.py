"""A worker's HTTP side: keep-alive requests to the endpoint's worker routes, and a
background sender for streamed chunks.  Stdlib only, so a worker process starts fast."""

from __future__ import annotations

import http.client
import queue
import socket
import threading
from typing import Any

MAX_BATCH = 512


class ServerLink:
    """One keep-alive HTTP connection to the endpoint's worker routes."""

    def __init__(self, config: dict[str, Any], timeout: float) -> None:
        self._host = config["host"]
        self._port = config["port"]
        self._base = config["base_path"]
        self._timeout = timeout
        self._headers = {"Content-Type": "application/json"}
        if config.get("api_key"):
            self._headers["Authorization"] = config["api_key"]
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Send one request; reconnects once when a kept-alive connection went stale."""
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._host, self._port,
                                                        timeout=self._timeout)
                self._conn.connect()
                self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self._conn.request(method, self._base + path, body=body, headers=self._headers)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class ChunkSender:
    """Posts a generator's chunks from a background thread, batching whatever piled up,
    so a fast handler never waits on the network and chunks keep their order."""

    def __init__(self, config: dict[str, Any], path: str) -> None:
        self._link = ServerLink(config, timeout=30.0)
        self._path = path
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="rp-local-chunks", daemon=True)
        self._thread.start()

    def put(self, encoded_output: str) -> None:
        self._queue.put('{"output":' + encoded_output + "}")

    def close(self) -> None:
        """Flush every chunk, then stop the thread."""
        self._queue.put(None)
        self._thread.join()
        self._link.close()

    def _run(self) -> None:
        done = False
        while not done:
            batch = []
            item = self._queue.get()
            while item is not None:
                batch.append(item)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            done = item is None
            if batch:
                body = ("[" + ",".join(batch) + "]").encode()
                try:
                    self._link.request("POST", self._path, body)
                except (OSError, http.client.HTTPException):
                    pass  # the server is gone or the job was stopped; nothing to keep


def stream_path(worker_id: str, job: dict[str, Any]) -> str:
    return f"/job-stream/{worker_id}/{job['id']}"


def take_path(worker_id: str, wait: float, *, in_progress: bool = False,
              batch: int | None = None) -> str:
    """The job-take request of a worker; a worker running jobs concurrently asks with the
    batch form for up to ``batch`` jobs (``concurrent=1`` is a local addition telling the
    server to stop its jobs by signal, not by ending the process)."""
    query = f"job_in_progress={int(in_progress)}&wait={int(wait * 1000)}"
    if batch is not None:
        return f"/job-take-batch/{worker_id}?{query}&batch_size={batch}&concurrent=1"
    return f"/job-take/{worker_id}?{query}"
