"""The job routes' fast lane: ``/run``, ``/runsync`` and ``/status`` answered on the
connection itself, without an ASGI request.

A job through uvicorn and the app costs about 300 us of CPU on the server's side, most
of it in building and running one ASGI request (scope, task, receive and send messages,
a response object) and in the app's general steps, around a job that takes the server a
few microseconds to queue and answer (``bench/local_profile.py``).  The lane reads a
request straight from the connection's bytes and writes its answer in one write, so the
server's own work is what is left: counting the request, queueing the job, handing it
to a worker process and putting its result in the answer.

A request takes the lane only when nothing in it needs the general path.  It is an
HTTP/1.1 ``POST /v2/{id}/run``, ``POST /v2/{id}/runsync`` or ``GET|POST
/v2/{id}/status/{job}`` whose head and a small body have arrived, with a
``Content-Length`` (or no body) and without %-escapes, ``Connection: close``, ``Expect``
or ``Transfer-Encoding``; its endpoint exists, has no fault set for the route, and takes
its key, its method, its body and the rate limit; the job it names exists (``/status``,
without ``?ttl=``).  The lane then does what the app does for it (:mod:`.app`,
:mod:`.routes`): counts it, queues the job or finds it, waits as the route waits, and
answers the same bytes.  Anything else, a refusal or an error included, is handed to
uvicorn's parser unchanged, before the lane changed anything, and gets the app's answer;
so does everything on a connection while uvicorn has a request on it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from rp_jupyter.local.endpoint_settings import MAX_OTHER_BODY
from rp_jupyter.local.httputil import json_body, key_problem, parse_query
from rp_jupyter.local.ratelimit import Rejection
from rp_jupyter.local.routes import STATUS_HOLD, runsync_wait
from rp_jupyter.local.server_job import ServerJob
from rp_jupyter.local.validation import BadRequest, parse_job_request
from rp_jupyter.wire_rules import IN_QUEUE

#: a body still arriving is left to uvicorn past this size (it reads bodies in pieces)
LANE_BODY_MAX = 64 * 1024
#: how much a waiting answer lets a client send ahead before reading pauses
AHEAD_MAX = 256 * 1024
_STARTS = (b"POST /v2/", b"GET /v2/")
_OPS = {b"run": ("run", 4), b"runsync": ("runsync", 4), b"status": ("status", 5)}
_NOT_LANE = (b"transfer-encoding", b"expect", b"upgrade")
#: bytes no request head carries outside its line ends (the parser refuses them)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class LaneRequest:
    """A request the lane may take: where it goes and what it carries."""

    __slots__ = (
        "authorization",
        "body_start",
        "endpoint_id",
        "job_id",
        "length",
        "method",
        "op",
        "query",
    )

    def __init__(self, method: str, endpoint_id: str, op: str, job_id: str | None,
                 query: bytes, authorization: bytes | None, body_start: int,
                 length: int) -> None:
        self.method = method
        self.endpoint_id = endpoint_id
        self.op = op
        self.job_id = job_id
        self.query = query
        self.authorization = authorization
        self.body_start = body_start
        self.length = length

    @property
    def end(self) -> int:
        return self.body_start + self.length


#: :func:`read_head`'s answer when the head has not all arrived and may be the lane's
INCOMPLETE: Any = object()


def read_head(buffer: bytes | bytearray, max_head: int,
              max_headers: int) -> LaneRequest | None:
    """The request whose head starts ``buffer``, if the lane may take it; ``None`` if it
    is uvicorn's; :data:`INCOMPLETE` if its head has not all arrived yet."""
    end = buffer.find(b"\r\n\r\n", 0, max_head + 4)
    if end < 0:
        start = bytes(buffer[:9])
        if len(buffer) < max_head and any(s.startswith(start[:len(s)]) for s in _STARTS):
            return INCOMPLETE
        return None
    head = bytes(buffer[:end])
    if not head.isascii() or head.count(b"\n") != head.count(b"\r\n") \
            or _CONTROL.search(head):
        return None
    lines = head.split(b"\r\n")
    request_line = lines[0].split(b" ")
    if len(request_line) != 3 or request_line[2] != b"HTTP/1.1" \
            or len(lines) - 1 > max_headers:
        return None
    method, target = request_line[0], request_line[1]
    path, _, query = target.partition(b"?")
    segments = path.split(b"/")
    if method not in (b"POST", b"GET") or b"%" in path or b"#" in target \
            or len(segments) < 4 or segments[0] or segments[1] != b"v2":
        return None
    route = _OPS.get(segments[3])
    if route is None or len(segments) != route[1] or not all(segments[2:]):
        return None
    length, authorization, seen_length = 0, None, False
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name[-1:] in b" \t" or name[:1] in b" \t":
            return None
        name = name.lower()
        if name == b"content-length":
            value = value.strip()
            if seen_length or not value.isdigit():
                return None
            length, seen_length = int(value), True
        elif name == b"authorization":
            authorization = value.strip(b" \t")
        elif name == b"connection":
            if b"close" in value.lower() or b"upgrade" in value.lower():
                return None
        elif name in _NOT_LANE:
            return None
    job_id = segments[4].decode() if route[1] == 5 else None
    return LaneRequest(method.decode(), segments[2].decode(), route[0], job_id, query,
                       authorization, end + 4, length)


class Counted:
    """A request the lane took: counted in its endpoint's stats, admitted by its limiter."""

    __slots__ = ("admission", "entry", "runtime")

    def __init__(self, runtime: Any, entry: dict[str, Any], admission: Any) -> None:
        self.runtime = runtime
        self.entry = entry
        self.admission = admission

    def end(self) -> None:
        """Answered, or its client is gone."""
        self.admission.release()
        self.runtime.stats.end(self.entry)


class Held:
    """An answer waiting for its job: joined to the job's change flag (and the server's
    closing flag) the way a long-poll's future is, it looks again at every change."""

    __slots__ = ("counted", "flags", "job", "lane", "timer")

    def __init__(self, lane: FastLane, job: ServerJob, counted: Counted) -> None:
        self.lane = lane
        self.job = job
        self.counted = counted
        self.timer: asyncio.TimerHandle | None = None
        self.flags: list[Any] = []

    # what a flag asks of a joined future
    def done(self) -> bool:
        return self.lane._held is not self

    def set_result(self, _: Any) -> None:
        self.lane._look_again()

    def join(self, *flags: Any) -> None:
        for flag in flags:
            flag.join(self)
        self.flags = list(flags)

    def rejoin(self) -> None:
        """The job's change flag fired (and forgot its joined): join the job's new one."""
        self.flags[0] = self.job.changed
        self.job.changed.join(self)

    def leave(self) -> None:
        for flag in self.flags:
            flag.leave(self)
        self.flags = []
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class FastLane:
    """Mixin for uvicorn's httptools protocol (with :class:`~.http_writes.JoinedWrites`
    and :class:`~.http_limits.HeadLimit` under it): the lane in front of its parser.

    ``lane_app`` is the :class:`~rp_jupyter.local.app.LocalApp` the server runs.
    """

    lane_app: Any = None
    max_header_bytes: int
    # uvicorn's
    transport: Any
    cycle: Any
    pipeline: Any
    server_state: Any
    loop: asyncio.AbstractEventLoop
    timeout_keep_alive: float
    timeout_keep_alive_task: asyncio.TimerHandle | None

    def connection_made(self, transport: Any) -> None:
        self._ahead = bytearray()
        self._held: Held | None = None
        self._in_message = False  # uvicorn's parser is inside a request
        self._head_cache: tuple[Any, bytes] = (None, b"")
        super().connection_made(transport)  # type: ignore[misc]

    def connection_lost(self, exc: Exception | None) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._end(held)
        super().connection_lost(exc)  # type: ignore[misc]

    def shutdown(self) -> None:
        """The server stops: a waiting answer goes now, with the job as it is."""
        if self._held is not None:
            self._answer_held()
            self.transport.close()
            return
        super().shutdown()  # type: ignore[misc]

    # -- uvicorn's parser callbacks: where its requests begin and end ------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        super().on_message_begin()  # type: ignore[misc]

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()  # type: ignore[misc]

    def _uvicorn_idle(self) -> bool:
        cycle = self.cycle
        return (not self._in_message and not self.pipeline
                and (cycle is None or cycle.response_complete)
                and not getattr(self, "_refused", False))

    # -- reading ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._held is None and not self._ahead and not self._uvicorn_idle():
            super().data_received(data)  # type: ignore[misc]
            return
        self._ahead += data
        self._take_requests()

    def _take_requests(self) -> None:
        """Answer the whole requests at the front of what arrived, while the lane may."""
        while self._ahead and self._held is None:
            request = read_head(self._ahead, self.max_header_bytes,
                                self.lane_app.max_headers)
            if request is INCOMPLETE:
                return
            if request is None or (request.end > len(self._ahead) and (
                    request.length > LANE_BODY_MAX)):
                self._to_uvicorn()
                return
            if request.end > len(self._ahead):
                return  # the rest of a small body is on its way
            self._unset_keepalive_if_required()  # type: ignore[attr-defined]
            if not self._serve(request):
                self._to_uvicorn()
                return
            del self._ahead[:request.end]
        if self._held is not None and len(self._ahead) > AHEAD_MAX:
            self.transport.pause_reading()

    def _to_uvicorn(self) -> None:
        data, self._ahead = bytes(self._ahead), bytearray()
        super().data_received(data)  # type: ignore[misc]

    # -- serving ------------------------------------------------------------------------

    def _serve(self, request: LaneRequest) -> bool:
        """Answer ``request`` (now, or once its job allows); ``False`` leaves it to the
        app, with nothing changed."""
        app = self.lane_app
        runtime = app.endpoints.get(request.endpoint_id)
        if runtime is None or app.closing.is_set() \
                or not runtime.settings.faults.idle(request.op):
            return False
        settings = runtime.settings
        keys = [settings.api_key] if settings.api_key else []
        if keys and key_problem(request.authorization, keys):
            return False
        body = bytes(self._ahead[request.body_start:request.end])
        query = parse_query(request.query)
        if request.op == "status":
            if request.length > MAX_OTHER_BODY or "ttl" in query:
                return False
            job = runtime.get(request.job_id)
            if job is None:
                return False
            return self._admit(runtime, request, lambda counted: self._status(job, counted))
        if request.method != "POST":
            return False
        sync = request.op == "runsync"
        if request.length > (settings.max_runsync_body if sync else settings.max_run_body):
            return False
        try:
            wait = runsync_wait(runtime, query.get("wait")) if sync else 0.0
            job_request = parse_job_request(body, settings)
        except BadRequest:
            return False
        return self._admit(runtime, request, lambda counted: self._submit(
            counted, job_request, sync, wait))

    def _admit(self, runtime: Any, request: LaneRequest, serve: Any) -> bool:
        """The rate limit, last (it is the one check that counts); then count and serve."""
        admission = runtime.limiter.acquire(request.op)
        if isinstance(admission, Rejection):
            return False
        stats = runtime.stats
        stats.lane += 1
        serve(Counted(runtime, stats.begin(request.method, request.op, request.job_id),
                      admission))
        return True

    def _submit(self, counted: Counted, job_request: Any, sync: bool, wait: float) -> None:
        runtime = counted.runtime
        job = runtime.submit(job_request, sync=sync)
        runtime.stats.attach_job(counted.entry, job.id)
        if not sync:
            self._answer(counted, {"id": job.id, "status": IN_QUEUE})
            return
        self._hold(Held(self, job, counted), wait)

    def _status(self, job: ServerJob, counted: Counted) -> None:
        if job.final:
            self._answer(counted, job.document())
            return
        self._hold(Held(self, job, counted), STATUS_HOLD)

    # -- waiting for a job --------------------------------------------------------------

    def _hold(self, held: Held, wait: float) -> None:
        self._held = held
        held.timer = self.loop.call_later(wait, self._answer_held)
        held.join(held.job.changed, self.lane_app.closing)

    def _look_again(self) -> None:
        held = self._held
        if held is None:
            return
        if held.job.final or self.lane_app.closing.is_set():
            self._answer_held()
        else:  # another change (IN_PROGRESS, a chunk): wait for the job's next one
            held.rejoin()

    def _answer_held(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        held.leave()
        self._answer(held.counted, held.job.document())
        if self._ahead:
            self.transport.resume_reading()
            self._take_requests()

    # -- answering ----------------------------------------------------------------------

    def _answer(self, counted: Counted, document: dict[str, Any]) -> None:
        body = json_body(document)
        self.transport.write_now(self._head() + b"%d\r\n\r\n" % len(body) + body)
        counted.entry["status_code"] = 200
        counted.end()
        self.server_state.total_requests += 1
        if self._held is None and not self._ahead:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler)  # type: ignore[attr-defined]

    def _end(self, held: Held) -> None:
        """A waiting answer nobody will read (the client hung up): the job goes on."""
        held.leave()
        held.counted.end()

    def _head(self) -> bytes:
        """The status line and headers of a JSON answer, up to the length's value: what
        uvicorn writes for the app's (its own headers, ``date`` and ``server``, first)."""
        defaults = self.server_state.default_headers
        if self._head_cache[0] is not defaults:
            own = b"".join(name + b": " + value + b"\r\n" for name, value in defaults)
            self._head_cache = (defaults, b"HTTP/1.1 200 OK\r\n" + own
                                + b"content-type: application/json\r\ncontent-length: ")
        return self._head_cache[1]


def with_fast_lane(protocol: type[asyncio.Protocol], app: Any) -> type[asyncio.Protocol]:
    """``protocol`` (uvicorn's httptools protocol, with the head limit and joined writes)
    with the lane in front, serving ``app``'s endpoints; h11's protocol as it is."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    if not issubclass(protocol, HttpToolsProtocol):
        return protocol
    return type(protocol.__name__, (FastLane, protocol), {"lane_app": app})
