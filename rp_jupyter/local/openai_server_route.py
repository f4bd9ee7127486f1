"""The OpenAI-compatible route of a local endpoint, ``/v2/{endpoint_id}/openai/v1/...``,
mapped to jobs the way the platform does it for worker-vllm (reference 2.11).

``POST chat/completions``, ``completions``, ``embeddings`` and ``GET models`` become a job
whose input is ``{"openai_route": "/v1/<route>", "openai_input": <the body>}`` (no
``openai_input`` for ``/v1/models``).  With ``"stream": true`` the handler's chunks are
relayed as ``text/event-stream`` while they are produced (see :mod:`.openai_stream`);
without, the answer is the first element of the job's output list, as JSON.

Errors are in OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``: 400 bad
body, 401 key, 404 unknown endpoint or route, 405 method, 413 body too large, 429 rate
limit (with ``Retry-After``), 500 job failed, 504 execution timeout, 408 no answer within
``openai_timeout`` (the job is then cancelled).  The order is the other routes': count the
request (op ``openai``), apply injected faults, check the key, the route, the rate limit.
A client that hangs up cancels its job.  Every answer names the job in ``x-request-id``.

Example::

    client = openai.OpenAI(base_url=f"{endpoint.url}/openai/v1", api_key="KEY")
    client.chat.completions.create(model="rp-jupyter/fake-llm", messages=[...])
"""

from __future__ import annotations

import ast
import asyncio
import json
from typing import Any

from starlette.responses import JSONResponse, Response

from rp_jupyter.local.flags import Flag
from rp_jupyter.local.httputil import (
    ClientGone,
    auth_problem,
    drop_connection,
    read_body,
    size_text,
)
from rp_jupyter.local.longpoll import DisconnectWatch, wait_until
from rp_jupyter.local.openai_stream import relay
from rp_jupyter.local.ratelimit import Rejection
from rp_jupyter.local.server_endpoint import EXECUTION_TIMEOUT_ERROR, ServerEndpoint
from rp_jupyter.local.server_job import _MISSING, ServerJob
from rp_jupyter.local.validation import ServerJobRequest
from rp_jupyter.wire_rules import CANCELLED, COMPLETED, FAILED

OP = "openai"
#: path after /openai -> (method, the route the handler is given)
ROUTES: dict[tuple[str, ...], tuple[str, str]] = {
    ("v1", "chat", "completions"): ("POST", "/v1/chat/completions"),
    ("v1", "completions"): ("POST", "/v1/completions"),
    ("v1", "embeddings"): ("POST", "/v1/embeddings"),
    ("v1", "models"): ("GET", "/v1/models"),
}
KINDS = {400: "invalid_request_error", 401: "invalid_request_error",
         404: "invalid_request_error", 405: "invalid_request_error", 408: "timeout",
         413: "invalid_request_error", 429: "requests", 500: "server_error",
         503: "server_error", 504: "timeout"}
NO_RETRY = {"x-should-retry": "false"}  # the official clients honour it: a rerun costs again
MAX_ERROR_TEXT = 100_000


def openai_error(status: int, message: str, *, code: str | int | None = None,
                 kind: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    """An answer in OpenAI's error shape."""
    body = {"error": {"message": message, "type": kind or KINDS.get(status, "server_error"),
                      "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


async def serve(endpoints: dict[str, ServerEndpoint], endpoint_id: str, args: list[str],
                method: str, scope: dict[str, Any], receive: Any, send: Any,
                closing: Flag) -> None:
    """Answer one request under ``/v2/{endpoint_id}/openai/``."""
    runtime = endpoints.get(endpoint_id)
    try:
        if runtime is None:  # the key is checked first, so ids cannot be probed
            await read_body(receive, 0)
            keys = [ep.settings.api_key for ep in endpoints.values() if ep.settings.api_key]
            problem = auth_problem(scope, keys)
            response = openai_error(401, problem, code="invalid_api_key") if problem else \
                openai_error(404, f"endpoint {endpoint_id!r} not found", code="not_found")
            await response(scope, receive, send)
            return
        entry = runtime.stats.begin(method, OP, None)
        try:
            await _with_faults(runtime, entry, args, method, scope, receive, send, closing)
        finally:
            runtime.stats.end(entry)
    except ClientGone:
        return


async def _with_faults(runtime: ServerEndpoint, entry: dict[str, Any], args: list[str],
                       method: str, scope: dict[str, Any], receive: Any, send: Any,
                       closing: Flag) -> None:
    faults = runtime.faults
    outcome = faults.decide(OP)
    if outcome == "drop":
        entry["dropped"] = True
        await drop_connection(scope, receive, send)
        return
    if faults.latency and faults.applies_to(OP):
        await asyncio.sleep(faults.latency)
    if outcome in ("429", "500", "503"):
        await read_body(receive, 0)
        status = int(outcome)
        headers = {"Retry-After": f"{faults.retry_after:g}"} if status == 429 else None
        response = openai_error(status, f"injected fault ({status})", headers=headers)
    else:
        request = ServerOpenAIRequest(runtime, entry, scope, receive, send, closing)
        response = await request.answer(args, method, drop_after=outcome == "drop_after")
        if response is None:  # streamed, dropped, or the client is gone
            return
    entry["status_code"] = response.status_code
    await response(scope, receive, send)


class ServerOpenAIRequest:
    """One request to the OpenAI route, from checks to the job's answer."""

    def __init__(self, runtime: ServerEndpoint, entry: dict[str, Any], scope: dict[str, Any],
                 receive: Any, send: Any, closing: Flag) -> None:
        self.runtime, self.entry = runtime, entry
        self.scope, self.receive, self.send, self.closing = scope, receive, send, closing

    async def _refuse(self, response: Response) -> Response:
        await read_body(self.receive, 0)
        return response

    async def answer(self, args: list[str], method: str, *, drop_after: bool = False
                     ) -> Response | None:
        """Check the request, run its job; ``None`` once the answer is sent (a stream)."""
        settings = self.runtime.settings
        keys = [settings.api_key] if settings.api_key else []
        problem = auth_problem(self.scope, keys)
        if problem:
            return await self._refuse(openai_error(401, problem, code="invalid_api_key"))
        if not settings.openai_route:
            return await self._refuse(openai_error(
                404, "this endpoint has no OpenAI route", code="unknown_url"))
        route = ROUTES.get(tuple(args))
        if route is None:
            path = "/".join(args)
            return await self._refuse(openai_error(
                404, f"unknown route /openai/{path}: this endpoint serves POST "
                     "/openai/v1/chat/completions, /openai/v1/completions, "
                     "/openai/v1/embeddings and GET /openai/v1/models", code="unknown_url"))
        if method != route[0]:
            return await self._refuse(openai_error(
                405, f"/openai/{'/'.join(args)} takes {route[0]}, not {method}",
                headers={"Allow": route[0]}))
        admission = self.runtime.limiter.acquire(OP)
        if isinstance(admission, Rejection):
            return await self._refuse(openai_error(
                429, admission.reason, code="rate_limit_exceeded",
                headers={"Retry-After": str(admission.retry_after)}))
        try:
            return await self._run(route, drop_after)
        finally:
            admission.release()

    async def _body(self, route: tuple[str, str]) -> dict[str, Any] | Response | None:
        limit = self.runtime.settings.max_runsync_body
        raw = await read_body(self.receive, limit)
        if raw is None:
            return openai_error(413, f"request body too large (limit {size_text(limit)})")
        if route[0] == "GET":
            return None
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            message = "empty body" if not raw.strip() else f"invalid JSON: {err}"
            return openai_error(400, f"{message}; send a JSON object")
        if not isinstance(body, dict):
            return openai_error(400, "the body must be a JSON object")
        return body

    async def _run(self, route: tuple[str, str], drop_after: bool) -> Response | None:
        body = await self._body(route)
        if isinstance(body, Response):
            return body
        job_input: dict[str, Any] = {"openai_route": route[1]}
        if body is not None:
            job_input["openai_input"] = body
        settings = self.runtime.settings
        job = self.runtime.submit(ServerJobRequest(body={"input": job_input},
                                             execution_timeout=settings.default_execution_timeout,
                                             ttl=None, low_priority=False), sync=True)
        self.runtime.stats.attach_job(self.entry, job.id)
        stream = isinstance(body, dict) and body.get("stream") is True
        watch = DisconnectWatch(self.receive)
        try:
            if drop_after:  # the job was accepted; then the connection breaks
                self.entry["dropped"] = True
                await drop_connection(self.scope, self.receive, self.send)
                return None
            ready = (lambda: bool(job.chunks) or job.final) if stream else (lambda: job.final)
            done = await wait_until(job, ready, settings.openai_timeout, watch.gone,
                                    self.closing)
            if watch.gone.is_set():
                self.runtime.cancel(job)
                return None
            if self.closing.is_set():
                return openai_error(503, "the local endpoint is shutting down")
            if not done:
                self.runtime.cancel(job)
                return openai_error(408, f"no answer within {settings.openai_timeout:g} s; "
                                         "the job was cancelled", code="timeout",
                                    headers={**NO_RETRY, "x-request-id": job.id})
            if stream and (job.chunks or job.status == COMPLETED):
                self.entry["status_code"] = 200
                await relay(self.runtime, job, self.send, watch.gone, self.closing,
                            error_event=lambda: job_error_body(job))
                return None
            return final_answer(job)
        finally:
            watch.close()


def final_answer(job: ServerJob) -> Response:
    """The answer for a final job: its first output element, or its error."""
    headers = {"x-request-id": job.id}
    if job.status == COMPLETED:
        answer = first_output(job)
        if answer is _MISSING:
            return openai_error(500, "the handler returned no output", headers=headers)
        problem = error_in_output(answer)
        if problem is not None:
            status, error = problem
            return JSONResponse({"error": error}, status_code=status,
                                headers={**headers, **NO_RETRY})
        return JSONResponse(answer, headers=headers)
    status, error = job_error(job)
    return JSONResponse({"error": error}, status_code=status, headers={**headers, **NO_RETRY})


def first_output(job: ServerJob) -> Any:
    """``output[0]`` of a list, the output itself otherwise, else the first chunk."""
    output = job.output
    if isinstance(output, list):
        if output:
            return output[0]
        output = _MISSING
    if output is _MISSING and job.chunks:
        return job.chunks[0]
    return output


def _status(code: Any, kind: Any, default: int) -> int:
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    text = str(kind or "").lower()
    for word, status in (("notfound", 404), ("not_found", 404), ("badrequest", 400),
                         ("invalid", 400), ("auth", 401), ("ratelimit", 429),
                         ("timeout", 504)):
        if word in text:
            return status
    return default


def _normalised(error: dict[str, Any], status: int) -> dict[str, Any]:
    return {"message": str(error.get("message", "")),
            "type": str(error.get("type") or KINDS.get(status, "server_error")),
            "param": error.get("param"), "code": error.get("code")}


def error_in_output(answer: Any) -> tuple[int, dict[str, Any]] | None:
    """An OpenAI-style error a handler returned as its answer: ``{"error": {...}}``
    (vLLM) or ``{"object": "error", ...}`` (infinity), with the status it stands for."""
    if not isinstance(answer, dict):
        return None
    error = answer.get("error")
    if isinstance(error, dict) and "message" in error:
        status = _status(error.get("code"), error.get("type"), 400)
        return status, _normalised(error, status)
    if answer.get("object") == "error" and "message" in answer:
        status = _status(answer.get("code"), answer.get("type"), 400)
        return status, _normalised(answer, status)
    return None


def _decode(text: str) -> Any:
    """A job's error string as data: JSON, or the repr of a dict (runpod-python turns a
    yielded ``{"error": {...}}`` into ``str(dict)``)."""
    if len(text) > MAX_ERROR_TEXT:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    if text.lstrip().startswith("{"):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return None


def job_error(job: ServerJob) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OpenAI error object for a job that did not complete."""
    if job.status == CANCELLED:
        return 500, _normalised({"message": "the job was cancelled", "code": "cancelled"}, 500)
    if job.status != FAILED:  # TIMED_OUT: it waited in the queue past its ttl
        return 408, _normalised({"message": "the job timed out in the queue",
                                 "code": "timeout"}, 408)
    text = job.error or "the job failed"
    if text == EXECUTION_TIMEOUT_ERROR:
        return 504, _normalised({"message": "the job ran past its execution timeout",
                                 "code": "timeout"}, 504)
    data = _decode(text)
    if isinstance(data, dict):
        found = error_in_output(data) or error_in_output({"error": data})
        if found is not None:
            return found
        if "error_message" in data:  # a raised exception, as runpod-python reports it
            name = str(data.get("error_type", "")).removeprefix("<class '").rstrip("'>")
            message = f"{name.rsplit('.', 1)[-1]}: {data['error_message']}" if name else \
                str(data["error_message"])
            return 500, _normalised({"message": message}, 500)
    message = text.split(" \ntraceback:", 1)[0].strip() or "the job failed"
    return 500, _normalised({"message": message}, 500)


def job_error_body(job: ServerJob) -> dict[str, Any]:
    """The ``{"error": {...}}`` event sent when a streamed job fails."""
    return {"error": job_error(job)[1]}
