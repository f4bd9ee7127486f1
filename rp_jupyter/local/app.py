"""The ASGI application of a local server: dispatch, then stats, faults, auth, limits.

Path shapes: ``/v2/{endpoint_id}/{op}[/{args}]`` for the job API (:mod:`.routes`) and
the worker protocol (:mod:`.protocol`), ``/v2/{endpoint_id}/openai/...`` for the
OpenAI-compatible route (:mod:`.openai_server_route`), ``/_local/...`` for the admin view
(:mod:`.admin`).  Every request is first held to the server's limits (too many headers:
431; a declared body over the route's limit: 413; :mod:`.request_limits`).  For a client
request the order is then: count it, apply injected faults, check the API key and the
method, apply the rate limit, run the route.  With a key set, an unknown endpoint or
route answers like a wrong key.  A plain ``/run``, ``/runsync`` or ``/status`` is answered
before it gets here, by the fast lane (:mod:`.fast_lane`), which does the same steps for it
and hands this app every request it does not take.

Why the routing is written here and not with Starlette's ``Router``/``Route`` and
middleware: it would make every request slower and change answers.  Measured in-process
(``bench/local_routing.py``, 2 shared CPUs), the dispatch here costs 7.5 us a request,
Starlette's ``Router`` 12.8 us (+5.4), with four pure-ASGI middleware where the steps above
go 17.6 us (+10.1), with four ``BaseHTTPMiddleware`` about 700 us; the whole server spends
about 380 us of CPU per ``/runsync`` job (``bench/local_throughput.py``), so Starlette's
routing would add 3 to 5 % to it.  Nor does the order above map onto it: the 431/413
refusals and the key check come before the route is chosen, and the key to check is the one
of the endpoint the path names, so each middleware would parse the path the ``Router``
parses after it (and an unknown route, with a key set, must answer like a wrong key rather
than with the ``Router``'s own 404 or 405).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import Response

from rp_jupyter.local import admin, protocol, request_limits
from rp_jupyter.local import openai_server_route as openai_route
from rp_jupyter.local.endpoint_settings import MAX_HEADERS, MAX_OTHER_BODY
from rp_jupyter.local.flags import Flag
from rp_jupyter.local.httputil import (
    ClientGone,
    auth_problem,
    bad_request,
    drop_connection,
    error,
    query,
    read_body,
)
from rp_jupyter.local.ratelimit import Rejection
from rp_jupyter.local.routes import CLIENT_ROUTES, Call, Route
from rp_jupyter.local.server_endpoint import ServerEndpoint
from rp_jupyter.local.validation import BadRequest, TooLarge
from rp_jupyter.local.webhooks import WebhookSender

SUBMIT_OPS = ("run", "runsync")


class LocalApp:
    """Serves every endpoint of one :class:`~rp_jupyter.local.server.LocalServer`."""

    def __init__(self, max_headers: int = MAX_HEADERS) -> None:
        self.max_headers = max_headers
        self.endpoints: dict[str, ServerEndpoint] = {}
        self.webhooks = WebhookSender()
        self.closing = Flag()
        self.address: tuple[str, int] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle (called on the server loop) ---------------------------------------

    def attach(self, runtime: ServerEndpoint) -> None:
        """Add an endpoint; starts its workers when the server already runs."""
        self.endpoints[runtime.id] = runtime
        if self.loop is not None and self.address is not None:
            runtime.start(self.address)

    async def startup(self) -> None:
        """Start every endpoint's workers (``address`` must be set)."""
        assert self.address is not None
        self.loop = asyncio.get_running_loop()
        for runtime in self.endpoints.values():
            runtime.start(self.address)

    async def shutdown(self) -> None:
        """End every long-poll, kill every worker, stop webhook deliveries."""
        if self.closing.is_set():
            return
        self.closing.set()
        for runtime in list(self.endpoints.values()):
            try:
                await runtime.close()
            except Exception:
                pass  # one endpoint's trouble must not leave another's workers running
        await self.webhooks.close()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as err:
                    await send({"type": "lifespan.startup.failed", "message": repr(err)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        parts = [p for p in scope["path"].split("/") if p]
        refusal = request_limits.early_refusal(scope, self.endpoints, parts, self.max_headers)
        if refusal is not None:
            self._count_refused(parts, scope["method"], refusal.status_code)
            await refusal(scope, receive, send)  # the body is never read
            return
        method = scope["method"]
        params = query(scope)
        try:
            if len(parts) >= 3 and parts[0] == "v2" and parts[2] == openai_route.OP:
                await openai_route.serve(self.endpoints, parts[1], parts[3:], method, scope,
                                         receive, send, self.closing)
                return
            if len(parts) >= 3 and parts[0] == "v2":
                await self._v2(parts[1], parts[2], parts[3:], method, params,
                               scope, receive, send)
                return
            if parts and parts[0] == "_local":
                response = await admin.dispatch(self.endpoints, parts[1:], method, scope,
                                                params, receive)
            else:
                await read_body(receive, 0)
                response = error(404, "not found")
        except ClientGone:
            return
        await response(scope, receive, send)

    def _count_refused(self, parts: list[str], method: str, status_code: int) -> None:
        """A client request refused before routing still counts in its endpoint's stats."""
        runtime = self.endpoints.get(parts[1]) if len(parts) >= 3 and parts[0] == "v2" else None
        if runtime is None or parts[2] not in CLIENT_ROUTES:
            return
        entry = runtime.stats.begin(method, parts[2], parts[3] if len(parts) > 3 else None)
        entry["status_code"] = status_code
        runtime.stats.end(entry)

    async def _v2(self, endpoint_id: str, op: str, args: list[str], method: str,
                  params: dict[str, str], scope: dict[str, Any], receive: Any,
                  send: Any) -> None:
        runtime = self.endpoints.get(endpoint_id)
        if runtime is None:
            await read_body(receive, 0)
            keys = request_limits.keys_of(self.endpoints.values())
            await request_limits.unknown_route(scope, keys, "endpoint not found")(
                scope, receive, send)
            return
        if op in CLIENT_ROUTES:
            await self._client(runtime, op, args, method, params, scope, receive, send)
            return
        shape = protocol.WORKER_ROUTES.get(op)
        if shape is None or len(args) != shape[1]:
            await read_body(receive, 0)
            response = request_limits.unknown_route(scope, _keys(runtime), "not found")
        elif method != shape[0]:
            await read_body(receive, 0)
            response = error(405, "method not allowed", {"Allow": shape[0]})
        elif problem := auth_problem(scope, _keys(runtime)):
            await read_body(receive, 0)
            response = error(401, problem)
        else:
            try:
                response = await protocol.dispatch(runtime, op, args, params, receive,
                                                   self.closing)
            except BadRequest as err:
                response = bad_request(str(err))
        await response(scope, receive, send)

    async def _client(self, runtime: ServerEndpoint, op: str, args: list[str], method: str,
                      params: dict[str, str], scope: dict[str, Any], receive: Any,
                      send: Any) -> None:
        methods, nargs, route = CLIENT_ROUTES[op]
        if len(args) != nargs:
            await read_body(receive, 0)
            await request_limits.unknown_route(scope, _keys(runtime), "not found")(
                scope, receive, send)
            return
        entry = runtime.stats.begin(method, op, args[0] if args else None)
        call = Call(runtime, scope, receive, args, params, self.closing, entry)
        try:
            await self._faulty(call, op, method, methods, route, send)
        finally:
            call.close()
            runtime.stats.end(entry)

    async def _faulty(self, call: Call, op: str, method: str, methods: tuple[str, ...],
                      route: Route, send: Any) -> None:
        """Apply the injected fault for this request around its real answer."""
        faults = call.runtime.faults
        outcome = faults.decide(op)
        if outcome == "drop":
            call.entry["dropped"] = True
            await drop_connection(call.scope, call.receive, send)
            return
        if faults.latency and faults.applies_to(op):
            await asyncio.sleep(faults.latency)
        try:
            if outcome in ("429", "500", "503"):
                await read_body(call.receive, 0)
                response = _injected(outcome, faults.retry_after)
            else:
                response = await self._answer(call, op, method, methods, route)
        except ClientGone:
            return
        if outcome == "drop_after":
            call.entry["dropped"] = True
            await drop_connection(call.scope, call.receive, send)
            return
        call.entry["status_code"] = response.status_code
        await response(call.scope, call.receive, send)

    async def _answer(self, call: Call, op: str, method: str, methods: tuple[str, ...],
                      route: Route) -> Response:
        """Method, key and rate limit checks, then the route itself."""
        runtime = call.runtime
        submit = op in SUBMIT_OPS
        # /run and /runsync read their body themselves, with their own size limit
        if not submit and await read_body(call.receive, MAX_OTHER_BODY) is None:
            return request_limits.too_large(MAX_OTHER_BODY)
        problem = auth_problem(call.scope, _keys(runtime))
        if problem:
            return await _refuse(call, submit, error(401, problem))
        if method not in methods:
            return await _refuse(call, submit, error(405, "method not allowed",
                                                     {"Allow": ", ".join(methods)}))
        admission = runtime.limiter.acquire(op)
        if isinstance(admission, Rejection):
            return await _refuse(call, submit, error(
                429, admission.reason, {"Retry-After": str(admission.retry_after)}))
        try:
            return await route(call)
        except TooLarge as err:
            return request_limits.too_large(err.limit)
        except BadRequest as err:
            return bad_request(str(err))
        finally:
            admission.release()


async def _refuse(call: Call, body_unread: bool, response: Response) -> Response:
    """Answer without running the route (reading a little of a body not read yet; the
    server drops the rest)."""
    if body_unread:
        await read_body(call.receive, 0)
    return response


def _keys(runtime: ServerEndpoint) -> list[str]:
    return [runtime.settings.api_key] if runtime.settings.api_key else []


def _injected(kind: str, retry_after: float) -> Response:
    if kind == "429":
        return error(429, "too many requests (injected fault)",
                     {"Retry-After": f"{retry_after:g}"})
    if kind == "500":
        return error(500, "internal server error (injected fault)")
    return error(503, "service unavailable (injected fault)")


