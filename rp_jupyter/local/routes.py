"""The client-facing job API under ``/v2/{endpoint_id}/``, as reference sections 2-3 say.

Each route gets a :class:`Call` (endpoint, path arguments, query, body) and returns a
response.  Rate limits, faults, auth and stats are applied before a route runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from rp_jupyter.local.flags import Flag
from rp_jupyter.local.httputil import answer, error, read_body
from rp_jupyter.local.longpoll import DisconnectWatch, wait_until
from rp_jupyter.local.server_endpoint import ServerEndpoint
from rp_jupyter.local.server_job import ServerJob
from rp_jupyter.local.validation import BadRequest, TooLarge, parse_job_request, wait_param
from rp_jupyter.wire_rules import FINAL_STATUSES, IN_QUEUE, TTL_MAX_MS, WAIT_MAX_MS, WAIT_MIN_MS

JOB_NOT_FOUND = "job not found"
#: how long ``/runsync`` waits before it also watches for the client hanging up (seconds)
RUNSYNC_UNWATCHED = 0.05
#: how long ``/status`` waits for a running job to finish before answering (seconds)
STATUS_HOLD = 0.005


@dataclass
class Call:
    """One request to an endpoint route."""

    runtime: ServerEndpoint
    scope: dict[str, Any]
    receive: Any
    args: list[str]
    query: dict[str, str]
    closing: Flag
    entry: dict[str, Any] | None = None
    body: bytes = b""
    _watch: DisconnectWatch | None = field(default=None, repr=False)

    @property
    def job_id(self) -> str:
        return self.args[0]

    def gone(self) -> Flag:
        """Set when the client hangs up (the body must have been read already)."""
        if self._watch is None:
            self._watch = DisconnectWatch(self.receive)
        return self._watch.gone

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()

    def job(self) -> ServerJob | None:
        return self.runtime.get(self.job_id)


Route = Callable[[Call], Awaitable[Response]]


async def _submit(call: Call, *, sync: bool) -> ServerJob:
    settings = call.runtime.settings
    limit = settings.max_runsync_body if sync else settings.max_run_body
    raw = await read_body(call.receive, limit)
    if raw is None:
        raise TooLarge(limit)
    request = parse_job_request(raw, settings)
    job = call.runtime.submit(request, sync=sync)
    if call.entry is not None:
        call.runtime.stats.attach_job(call.entry, job.id)
    return job


async def run(call: Call) -> Response:
    """POST /run: queue a job, answer ``{"id", "status": "IN_QUEUE"}`` at once."""
    job = await _submit(call, sync=False)
    return answer({"id": job.id, "status": IN_QUEUE})


def runsync_wait(runtime: ServerEndpoint, raw: str | None) -> float:
    """How long a ``/runsync`` with ``?wait=raw`` waits for its job, in seconds."""
    return wait_param(raw, runtime.settings.runsync_default_wait, WAIT_MIN_MS / 1000,
                      WAIT_MAX_MS / 1000)


async def runsync(call: Call) -> Response:
    """POST /runsync?wait=ms: queue a job and wait for it (1-300 s, default 90 s).

    On expiry the answer is the job's current, non-final document; the job goes on.
    """
    try:
        wait = runsync_wait(call.runtime, call.query.get("wait"))
    except BadRequest:
        await read_body(call.receive, 0)
        raise
    job = await _submit(call, sync=True)
    # most jobs end within moments: only a longer wait watches for the client hanging up
    if not await wait_until(job, lambda: job.final, RUNSYNC_UNWATCHED, call.closing):
        await wait_until(job, lambda: job.final, wait - RUNSYNC_UNWATCHED, call.gone(),
                         call.closing)
    return answer(job.document())


async def status(call: Call) -> Response:
    """GET|POST /status/{id}[?ttl=ms]: the status document; ``ttl`` shortens retention.

    A job not yet final gets up to :data:`STATUS_HOLD` to finish before the answer: a short
    job polled right after ``/run`` answers with its result in one request instead of a poll
    interval later, and a poll of a long job takes that much longer to answer.
    """
    job = call.job()
    if job is not None and not job.final:
        await wait_until(job, lambda: job.final, STATUS_HOLD, call.closing)
        job = call.job()
    if job is None:
        return error(404, JOB_NOT_FOUND)
    if call.query.get("ttl"):
        call.runtime.set_retention(job, wait_param(call.query["ttl"], 0.0, 0.0, TTL_MAX_MS / 1000))
    return answer(job.document())


def _long_poll_wait(call: Call, default: float = 0.0) -> float:
    return wait_param(call.query.get("wait"), default, 0.0, call.runtime.settings.long_poll_max)


async def status_sync(call: Call) -> Response:
    """GET|POST /status-sync/{id}?wait=ms: answer once the status differs from what it
    was when the request arrived (at once if final), or when the wait ends."""
    job = call.job()
    if job is None:
        return error(404, JOB_NOT_FOUND)
    wait = _long_poll_wait(call)
    initial = job.status
    await wait_until(job, lambda: job.final or job.status != initial, wait,
                     call.gone(), call.closing)
    if call.runtime.get(job.id) is None:
        return error(404, JOB_NOT_FOUND)
    return answer(job.document())


async def stream(call: Call) -> Response:
    """GET|POST /stream/{id}?wait=ms: every chunk not delivered yet, each exactly once.

    Waits (up to ``wait``; without one, ``stream_hold``: 10 s like the hosted API) until a
    chunk arrives or the job is final; a mere IN_QUEUE -> IN_PROGRESS change does not end
    the wait.
    """
    job = call.job()
    if job is None:
        return error(404, JOB_NOT_FOUND)
    wait = _long_poll_wait(call, call.runtime.settings.stream_hold)
    gone = call.gone()
    await wait_until(job, lambda: job.delivered < len(job.chunks) or job.final, wait,
                     gone, call.closing)
    if gone.is_set():  # nobody will read this answer: keep the chunks for the next call
        return answer({"id": job.id, "status": job.status, "stream": []})
    fresh = job.chunks[job.delivered:]
    job.delivered += len(fresh)
    return answer({"id": job.id, "status": job.status,
                   "stream": [{"output": chunk} for chunk in fresh]})


async def cancel(call: Call) -> Response:
    """POST /cancel/{id}: remove a queued job, stop a running one; a final job is unchanged."""
    job = call.job()
    if job is None:
        return error(404, JOB_NOT_FOUND)
    was_final = job.status in FINAL_STATUSES
    call.runtime.cancel(job)
    if not was_final and job.delay_ms is None:
        return answer({"id": job.id, "status": job.status})
    return answer(job.document())


async def retry(call: Call) -> Response:
    """POST /retry/{id}: requeue a FAILED or TIMED_OUT job under the same id."""
    job = call.job()
    if job is None:
        return error(404, JOB_NOT_FOUND)
    call.runtime.retry(job)
    return answer({"id": job.id, "status": IN_QUEUE})


async def purge_queue(call: Call) -> Response:
    """POST /purge-queue: drop every queued job."""
    return answer({"removed": call.runtime.purge(), "status": "completed"})


async def health(call: Call) -> Response:
    """GET /health: job and worker counters."""
    return answer(call.runtime.health())


#: op -> (methods, number of path arguments, route)
CLIENT_ROUTES: dict[str, tuple[tuple[str, ...], int, Route]] = {
    "run": (("POST",), 0, run),
    "runsync": (("POST",), 0, runsync),
    "status": (("GET", "POST"), 1, status),
    "status-sync": (("GET", "POST"), 1, status_sync),
    "stream": (("GET", "POST"), 1, stream),
    "cancel": (("POST",), 1, cancel),
    "retry": (("POST",), 1, retry),
    "purge-queue": (("POST",), 0, purge_queue),
    "health": (("GET",), 0, health),
}
