"""A fault-injecting HTTP proxy on loopback, to put between a client and an endpoint.

It plays the gateway in front of Runpod: a share of requests get a 429 with
``Retry-After``, a 502/503 that never reached the endpoint, a 502 *after* the endpoint
answered (the request was carried out, the answer lost), a connection reset before or
after forwarding, or extra latency.  Scripts may also ask for ``junk_after``: the answer
replaced by a 200 whose JSON is no Runpod document (a gateway answering for the endpoint).
Every request is logged with what happened to it, so a soak can tell "never sent" from
"sent, answer lost".

Example::

    with LocalEndpoint("echo") as ep, FaultProxy(ep.server.root_url, rate=0.1, seed=7) as proxy:
        job = rp_jupyter.Endpoint(ep.endpoint_id, base_url=proxy.base_url).run({"x": 1})
        proxy.counts()     # {"ok": 9, "reset_after": 1, ...}
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11

#: What can happen to one request.  "*_before" never reaches the endpoint; "*_after"
#: reaches it, and the answer is lost on the way back.
KINDS = ("ok", "429", "503", "502_before", "502_after", "reset_before", "reset_after",
         "junk_after")
#: How a ``rate`` is shared among the kinds when no ``shares`` are given.
DEFAULT_SHARES = {"429": 0.25, "503": 0.1, "502_before": 0.1, "502_after": 0.15,
                  "reset_before": 0.15, "reset_after": 0.25}
MAX_BODY = 64 * 1024 * 1024
READ_SIZE = 65_536


@dataclass(frozen=True)
class Passage:
    """One request through the proxy and what became of it."""

    at: float
    method: str
    path: str
    op: str
    kind: str
    forwarded: bool
    upstream_status: int | None


class FaultProxy:
    """See the module docstring.  ``rate`` is the share of requests that meet a fault,
    split by ``shares`` (kind -> weight); ``ops`` limits faults to some operations
    (``run``, ``status``, ``stream``, ...); ``latency`` seconds are added to every
    forwarded request."""

    def __init__(self, upstream: str, *, rate: float = 0.0,
                 shares: dict[str, float] | None = None, ops: set[str] | None = None,
                 latency: float = 0.0, retry_after: float = 0.05, seed: int | None = None,
                 host: str = "127.0.0.1") -> None:
        parts = upstream.split("://", 1)[-1].split("/", 1)[0]
        self.upstream_host, _, port = parts.rpartition(":")
        self.upstream_port = int(port)
        self.rate = rate
        self.shares = dict(shares or DEFAULT_SHARES)
        unknown = set(self.shares) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s) {sorted(unknown)}; choose from {KINDS}")
        self.ops = ops
        self.latency = latency
        self.retry_after = retry_after
        self.host = host
        self.port = 0
        self.log: list[Passage] = []
        self._rng = random.Random(seed)
        self._scripts: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    # -- control -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``RUNPOD_ENDPOINT_BASE_URL`` is through the proxy."""
        return f"{self.url}/v2"

    def script(self, op: str, kinds: list[str]) -> None:
        """The next requests of ``op`` meet these outcomes, in order (then random again)."""
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValueError(f"unknown fault kind(s) {bad}; choose from {KINDS}")
        with self._lock:
            self._scripts.setdefault(op, deque()).extend(kinds)

    def counts(self, op: str | None = None) -> Counter[str]:
        """How many requests met each outcome (of one operation)."""
        with self._lock:
            return Counter(p.kind for p in self.log if op is None or p.op == op)

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name="rp-fault-proxy", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the proxy loop ----------------------------------------------------------------

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._server = loop.run_until_complete(
            asyncio.start_server(self._serve, self.host, 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    def _decide(self, op: str) -> str:
        with self._lock:
            script = self._scripts.get(op)
            if script:
                return script.popleft()
            if self.rate <= 0 or (self.ops is not None and op not in self.ops):
                return "ok"
            if self._rng.random() >= self.rate:
                return "ok"
            total = sum(self.shares.values())
            roll = self._rng.random() * total
        for kind, weight in self.shares.items():
            if roll < weight:
                return kind
            roll -= weight
        return "ok"

    def _record(self, method: str, path: str, op: str, kind: str, forwarded: bool,
                status: int | None) -> None:
        with self._lock:
            self.log.append(Passage(time.time(), method, path, op, kind, forwarded, status))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_BODY)
        try:
            while True:
                request, body = await _read_request(client, reader)
                if request is None:
                    return
                await self._handle(client, writer, request, body)
                if client.our_state is h11.MUST_CLOSE or client.their_state is h11.MUST_CLOSE:
                    return
                client.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError, _Reset):
            return
        except asyncio.CancelledError:  # the proxy stops: end quietly (asyncio's stream
            return                      # callback in 3.11 logs a task that ends cancelled)
        finally:
            writer.close()

    async def _handle(self, client: h11.Connection, writer: asyncio.StreamWriter,
                      request: h11.Request, body: bytes) -> None:
        method, path = request.method.decode(), request.target.decode()
        op = _operation(path)
        kind = self._decide(op)
        if kind == "reset_before":
            self._record(method, path, op, kind, False, None)
            _reset(writer)
            raise _Reset
        if kind in ("429", "503", "502_before"):
            self._record(method, path, op, kind, False, None)
            status = int(kind[:3])
            headers = [("Retry-After", f"{self.retry_after:g}")] if status == 429 else []
            await _answer(client, writer, status, b'{"error": "injected by the fault proxy"}',
                          headers)
            return
        if self.latency:
            await asyncio.sleep(self.latency)
        await self._forward(client, writer, request, body, relay=kind == "ok",
                            on_status=lambda status: self._record(method, path, op, kind,
                                                                  True, status))
        if kind == "reset_after":
            _reset(writer)
            raise _Reset
        if kind == "502_after":
            await _answer(client, writer, 502, b'{"error": "bad gateway (injected after '
                                                b'forwarding)"}')
        if kind == "junk_after":
            await _answer(client, writer, 200, b'["not", "a", "Runpod document"]')

    async def _forward(self, client: h11.Connection, writer: asyncio.StreamWriter,
                       request: h11.Request, body: bytes, *, relay: bool,
                       on_status: Callable[[int], None]) -> int:
        """Send the request upstream; relay the answer as it arrives when ``relay``, else
        read it all and drop it.  ``on_status(status)`` is called as the upstream answer
        starts, before any of it reaches the client (so the log is never behind it).
        Returns the upstream status."""
        up_reader, up_writer = await asyncio.open_connection(self.upstream_host,
                                                             self.upstream_port)
        upstream = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_BODY)
        headers = [(k, v) for k, v in request.headers if k.lower() not in (b"connection",)]
        headers.append((b"connection", b"close"))
        try:
            up_writer.write(upstream.send(h11.Request(method=request.method,
                                                      target=request.target, headers=headers)))
            if body:
                up_writer.write(upstream.send(h11.Data(data=body)))
            up_writer.write(upstream.send(h11.EndOfMessage()))
            await up_writer.drain()
            status = 0
            while True:
                event = upstream.next_event()
                if event is h11.NEED_DATA:
                    upstream.receive_data(await up_reader.read(READ_SIZE))
                    continue
                if isinstance(event, h11.Response):
                    status = event.status_code
                    on_status(status)
                    if relay:
                        kept = [(k, v) for k, v in event.headers
                                if k.lower() not in (b"connection", b"content-length",
                                                     b"transfer-encoding")]
                        writer.write(client.send(h11.Response(status_code=status,
                                                              headers=kept)))
                elif isinstance(event, h11.Data):
                    if relay:
                        writer.write(client.send(h11.Data(data=event.data)))
                        await writer.drain()
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    if not status:  # the endpoint closed without an answer
                        on_status(status)
                    if relay:
                        writer.write(client.send(h11.EndOfMessage()))
                        await writer.drain()
                    return status
        finally:
            up_writer.close()


class _Reset(Exception):
    """The client connection was reset on purpose."""


async def _read_request(conn: h11.Connection,
                        reader: asyncio.StreamReader) -> tuple[Any, bytes]:
    request, body = None, b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(READ_SIZE)
            conn.receive_data(data)
            if not data and request is None:
                return None, b""
            continue
        if isinstance(event, h11.ConnectionClosed):
            return None, b""
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return request, body


async def _answer(conn: h11.Connection, writer: asyncio.StreamWriter, status: int, body: bytes,
                  headers: list[tuple[str, str]] | None = None) -> None:
    all_headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   *(headers or [])]
    writer.write(conn.send(h11.Response(status_code=status, headers=all_headers)))
    writer.write(conn.send(h11.Data(data=body)))
    writer.write(conn.send(h11.EndOfMessage()))
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a dropped gateway connection looks."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def _operation(path: str) -> str:
    """``/v2/ep/status/id?x`` -> ``status``; ``/v2/ep/openai/v1/...`` -> ``openai``."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    return parts[2] if len(parts) >= 3 and parts[0] == "v2" else "other"
