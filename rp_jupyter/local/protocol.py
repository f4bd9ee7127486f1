"""The platform side of Runpod's worker protocol, under ``/v2/{endpoint_id}/``.

The same routes a runpod-python worker calls (reference 6.4), so a real worker can run
against the local endpoint given :meth:`worker_env`'s variables:

- ``GET job-take/{worker}?job_in_progress=0|1[&wait=ms]``: one job ``{id, input, ...}``
  (200) or 204 after holding the request up to ``wait`` (default 30 s);
  ``job-take-batch/{worker}?batch_size=N`` answers a list of up to N jobs
  (``&concurrent=1``, a local addition: stop this worker's jobs by signal).
- ``POST job-stream/{worker}/{job}``: one chunk ``{"output": x}``, or a list of them.
- ``POST job-done/{worker}/{job}?isStream=…``: the result ``{"output"?, "error"?,
  "stopPod"?}``; with ``"status": "IN_PROGRESS"`` a progress update.
- ``GET job-stop/{worker}[?wait=ms]``: ``{"jobsToStop": [ids]}`` or 204 (long-poll).
- ``GET ping/{worker}``: heartbeat.
- ``POST worker-failed/{worker}``: ``{"error": message, "traceback": text}`` when a
  local worker cannot load its handler (a local addition).

Bodies are JSON text whatever their content type (runpod-python sends JSON with
``application/x-www-form-urlencoded``).  These routes are neither counted nor limited.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from starlette.responses import Response

from rp_jupyter import env_names as names
from rp_jupyter.local.httputil import answer, error, read_body
from rp_jupyter.local.longpoll import DisconnectWatch, wait_first
from rp_jupyter.local.server_endpoint import ServerEndpoint
from rp_jupyter.local.validation import BadRequest, wait_param

MAX_WORKER_BODY = 256 * 1024 * 1024
MAX_BATCH = 1000


def worker_env(base_url: str, endpoint_id: str, worker_id: str,
               api_key: str | None = None) -> dict[str, str]:
    """Environment for a runpod-python worker pulling from this endpoint.

    Example: ``subprocess.Popen([sys.executable, "handler.py"], env={**os.environ, **env})``.
    """
    root = f"{base_url}/{endpoint_id}"
    env = {
        names.WEBHOOK_GET_JOB_ENV: f"{root}/job-take/$ID?gpu=local",
        names.WEBHOOK_POST_OUTPUT_ENV: f"{root}/job-done/${names.POD_ID_ENV}/$ID?gpu=local",
        names.WEBHOOK_POST_STREAM_ENV: f"{root}/job-stream/${names.POD_ID_ENV}/$ID?gpu=local",
        names.WEBHOOK_PING_ENV: f"{root}/ping/${names.POD_ID_ENV}?gpu=local",
        names.POD_ID_ENV: worker_id,
        names.ENDPOINT_ID_ENV: endpoint_id,
        # runpod-python probes the host (and the network) before starting unless told not to
        names.SKIP_AUTO_SYSTEM_CHECKS_ENV: "true",
    }
    if api_key:
        env[names.WORKER_API_KEY_ENV] = api_key
    return env


def runpod_worker_env(base_url: str, endpoint_id: str, worker_id: str,
                      api_key: str | None = None) -> dict[str, str]:
    """What a script run as it is (``python worker.py``) gets: :func:`worker_env`, plus
    runpod-python's log level unless this environment sets one (its default, DEBUG, logs
    every poll): INFO in a terminal, WARN elsewhere (in a notebook kernel the worker's
    output would land in whichever cell runs next)."""
    env = worker_env(base_url, endpoint_id, worker_id, api_key)
    if names.LOG_LEVEL_ENV not in os.environ and names.DEBUG_LEVEL_ENV not in os.environ:
        env[names.LOG_LEVEL_ENV] = "INFO" if _stdout_is_a_terminal() else "WARN"
    return env


def _stdout_is_a_terminal() -> bool:
    try:
        return os.isatty(1)
    except OSError:
        return False


def shown_worker_env(env: dict[str, str]) -> list[str]:
    """``NAME=value`` lines for printing :func:`worker_env`; the key is never shown."""
    return [f"{name}=<the endpoint's API key, not shown>" if name == names.WORKER_API_KEY_ENV
            else f"{name}={value}" for name, value in env.items()]


def runpod_worker_summary(handle: Any) -> str:
    """What ``--runpod-worker`` gives each worker of an endpoint: the command it runs
    unchanged and the variables added to its environment (the key itself never shown)."""
    from rp_jupyter.local.processes import runpod_worker_command

    command = " ".join(runpod_worker_command(handle.handler))
    env = runpod_worker_env(handle.base_url, handle.endpoint_id, "<one id per worker>",
                            handle.settings.api_key)
    lines = [f"Endpoint {handle.endpoint_id!r} runs `{command}` unchanged, as runpod-python "
             "workers, with these variables added to this environment:"]
    lines += [f"  {line}" for line in shown_worker_env(env)]
    return "\n".join(lines)


async def _json_body(receive: Any) -> Any:
    raw = await read_body(receive, MAX_WORKER_BODY)
    if raw is None:
        raise BadRequest("bad request: body: too large")
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError as err:
        raise BadRequest(f"bad request: body: invalid JSON: {err}") from None
    except RecursionError:
        raise BadRequest("bad request: body: JSON nested too deeply") from None


async def job_take(runtime: ServerEndpoint, args: list[str], query: dict[str, str],
                   receive: Any, closing: Any, batch: bool = False) -> Response:
    worker_id = args[0]
    await read_body(receive, 0)
    if not runtime.pool.may_take(worker_id):
        return error(410, "worker retired")
    slot = runtime.pool.waiting(worker_id, busy=query.get("job_in_progress") == "1")
    if query.get("concurrent") == "1":
        slot.stops_by_signal = True
    wait = wait_param(query.get("wait"), runtime.settings.worker_poll_wait, 0.0, 300.0)
    size = _batch_size(query.get("batch_size")) if batch else 1
    watch = DisconnectWatch(receive)
    try:
        job = await runtime.queue.take(worker_id, wait, watch.gone)
    finally:
        watch.close()
    if job is None:
        return Response(status_code=204)
    jobs = [job]
    while len(jobs) < size and (more := runtime.queue.take_nowait(worker_id)) is not None:
        jobs.append(more)
    if watch.gone.is_set() or closing.is_set():
        for taken in reversed(jobs):
            runtime.give_back(taken)
        return Response(status_code=204)
    return answer([j.payload() for j in jobs] if batch else job.payload())


def _batch_size(raw: str | None) -> int:
    try:
        return max(1, min(MAX_BATCH, int(raw or 1)))
    except ValueError:
        raise BadRequest(f"bad request: query: batch_size must be a number, got {raw!r}"
                         ) from None


async def job_stream(runtime: ServerEndpoint, args: list[str], receive: Any) -> Response:
    body = await _json_body(receive)
    items = body if isinstance(body, list) else [body]
    outputs = [item.get("output") for item in items if isinstance(item, dict)]
    accepted = runtime.job_stream(args[0], args[1], outputs)
    return answer({"accepted": accepted})


async def job_done(runtime: ServerEndpoint, args: list[str], receive: Any) -> Response:
    """A result, or (``"status": "IN_PROGRESS"``) a progress update."""
    body = await _json_body(receive)
    if not isinstance(body, dict):
        body = {"output": body}
    worker_id = args[0]
    accepted = runtime.job_done(worker_id, args[1], body)
    if body.get("status") != "IN_PROGRESS":
        runtime.pool.seen(worker_id).stops.forget({args[1]})
    return answer({"accepted": accepted})


async def job_stop(runtime: ServerEndpoint, args: list[str], query: dict[str, str],
                   receive: Any, closing: Any) -> Response:
    await read_body(receive, 0)
    stops = runtime.pool.seen(args[0]).stops
    wait = wait_param(query.get("wait"), runtime.settings.worker_poll_wait, 0.0, 300.0)
    deadline = asyncio.get_running_loop().time() + wait
    watch = DisconnectWatch(receive)
    try:
        while True:
            ids, next_due = stops.due()
            remaining = deadline - asyncio.get_running_loop().time()
            if ids or remaining <= 0 or watch.gone.is_set() or closing.is_set():
                break
            await wait_first(stops.event, watch.gone, closing,
                             timeout=min(remaining, next_due or remaining))
    finally:
        watch.close()
    if not ids:
        return Response(status_code=204)
    return answer({"jobsToStop": ids})


async def ping(runtime: ServerEndpoint, args: list[str], receive: Any) -> Response:
    await read_body(receive, 0)
    runtime.pool.seen(args[0])
    return answer({"status": "ok"})


async def worker_failed(runtime: ServerEndpoint, args: list[str], receive: Any) -> Response:
    body = await _json_body(receive)
    message = body.get("error") if isinstance(body, dict) else None
    details = body.get("traceback") if isinstance(body, dict) else None
    runtime.pool.load_failed(args[0], str(message or "unknown error"),
                             str(details) if details else None)
    return answer({"status": "ok"})


#: op -> (method, number of path arguments)
WORKER_ROUTES: dict[str, tuple[str, int]] = {
    "job-take": ("GET", 1),
    "job-take-batch": ("GET", 1),
    "job-stream": ("POST", 2),
    "job-done": ("POST", 2),
    "job-stop": ("GET", 1),
    "ping": ("GET", 1),
    "worker-failed": ("POST", 1),
}


async def dispatch(runtime: ServerEndpoint, op: str, args: list[str], query: dict[str, str],
                   receive: Any, closing: Any) -> Response:
    """Run one worker route (method and argument count already checked)."""
    if op in ("job-take", "job-take-batch"):
        return await job_take(runtime, args, query, receive, closing, op == "job-take-batch")
    if op == "job-stream":
        return await job_stream(runtime, args, receive)
    if op == "job-done":
        return await job_done(runtime, args, receive)
    if op == "job-stop":
        return await job_stop(runtime, args, query, receive, closing)
    if op == "ping":
        return await ping(runtime, args, receive)
    return await worker_failed(runtime, args, receive)
