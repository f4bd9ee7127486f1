"""What routing costs per request in the local endpoint's ASGI app: its own router against
Starlette's ``Router``/``Route`` and middleware.

Every variant answers the same requests (``GET /v2/bench/health``, ``GET
/v2/bench/status/{id}``, ``POST /v2/bench/cancel/{id}``) with the same small JSON
response, called in-process (no sockets), so only dispatch differs:

- ``hand router``: the split-and-look-up dispatch of ``local/app.py`` (path segments,
  then the route table of ``local/routes.py``);
- ``Starlette Router``: a ``Router`` holding a ``Route`` for each client and worker
  route of the app (plus the ``openai`` and ``_local`` mounts), endpoints taking a
  ``Request``;
- ``+ 4 ASGI middleware``: the same inside ``Starlette(...)`` with four pass-through
  pure-ASGI middleware, where the app's stats, faults, auth and rate-limit steps would go;
- ``+ 4 BaseHTTPMiddleware``: the same with Starlette's ``BaseHTTPMiddleware``;
- ``the app, full path``: the real app (``LocalApp``) answering ``/health`` and an unknown
  job's ``/status`` with every step it takes (stats, faults, auth, rate limit), for scale.

Run: ``.venv/bin/python bench/local_routing.py [--requests 20000] [--repeats 5]``.  Prints a
table (microseconds per request, median of the repeats) and writes
``bench/results/local_routing.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, Router

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, write_result

from rp_jupyter.local.app import LocalApp
from rp_jupyter.local.endpoint_settings import EndpointSettings
from rp_jupyter.local.handler_spec import HandlerSpec
from rp_jupyter.local.protocol import WORKER_ROUTES
from rp_jupyter.local.routes import CLIENT_ROUTES
from rp_jupyter.local.server_endpoint import ServerEndpoint
from rp_jupyter.local.webhooks import WebhookSender

REQUESTS = [("GET", "/v2/bench/health"), ("GET", "/v2/bench/status/job-1"),
            ("POST", "/v2/bench/cancel/job-1")]


def small_answer() -> Response:
    return JSONResponse({"id": "job-1", "status": "IN_QUEUE"})


# -- the hand router, as local/app.py dispatches -------------------------------------

async def hand_router(scope: dict[str, Any], receive: Any, send: Any) -> None:
    parts = [p for p in scope["path"].split("/") if p]
    if len(parts) >= 3 and parts[0] == "v2":
        entry = CLIENT_ROUTES.get(parts[2])
        if entry is not None and len(parts) - 3 == entry[1] and scope["method"] in entry[0]:
            await small_answer()(scope, receive, send)
            return
    await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)


# -- Starlette's routing -------------------------------------------------------------

async def starlette_endpoint(request: Request) -> Response:
    request.path_params.get("endpoint_id")
    return small_answer()


def starlette_routes() -> list[Any]:
    routes: list[Any] = []
    for op, (methods, nargs, _) in CLIENT_ROUTES.items():
        tail = "/{job_id}" if nargs else ""
        routes.append(Route(f"/v2/{{endpoint_id}}/{op}{tail}", starlette_endpoint,
                            methods=list(methods)))
    for op, (method, nargs) in WORKER_ROUTES.items():
        tail = "".join(f"/{{arg{i}}}" for i in range(nargs))
        routes.append(Route(f"/v2/{{endpoint_id}}/{op}{tail}", starlette_endpoint,
                            methods=[method]))
    routes.append(Mount("/v2/{endpoint_id}/openai", routes=[
        Route("/v1/chat/completions", starlette_endpoint, methods=["POST"]),
        Route("/v1/models", starlette_endpoint)]))
    routes.append(Mount("/_local", routes=[Route("/stats", starlette_endpoint)]))
    return routes


class PassThrough:
    """A pure ASGI middleware doing nothing, where a step of the app would go."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class PassThroughHTTP(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: Callable[..., Any]) -> Response:
        return await call_next(request)


def starlette_variants() -> dict[str, Any]:
    routes = starlette_routes()
    return {
        "Starlette Router": Router(routes=routes),
        "Starlette Router + 4 ASGI middleware": Starlette(
            routes=routes, middleware=[Middleware(PassThrough)] * 4),
        "Starlette Router + 4 BaseHTTPMiddleware": Starlette(
            routes=routes, middleware=[Middleware(PassThroughHTTP)] * 4),
    }


# -- the real app --------------------------------------------------------------------

def local_app() -> LocalApp:
    app = LocalApp()
    settings = EndpointSettings(workers=0, rate_limits=None)
    runtime = ServerEndpoint("bench", HandlerSpec.of("echo"), settings, WebhookSender())
    app.endpoints["bench"] = runtime
    return app


# -- timing --------------------------------------------------------------------------

def scope_of(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": b"", "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000)}


async def per_request(app: Any, requests: int, requests_made: list[tuple[str, str]]) -> float:
    """Microseconds per request, ``requests`` requests cycling through ``requests_made``."""
    scopes = [scope_of(m, p) for m, p in requests_made]
    statuses: list[int] = []
    never = asyncio.Event()

    def receiver() -> Callable[[], Any]:
        """As a server's ``receive``: the (empty) body once, then nothing until the client
        leaves, which it does not."""
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await never.wait()
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}

        return receive

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for i in range(requests):
        await app(dict(scopes[i % len(scopes)]), receiver(), send)
    elapsed = time.perf_counter() - started
    assert len(statuses) == requests, (len(statuses), requests)
    return elapsed / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    variants: dict[str, tuple[Any, list[tuple[str, str]]]] = {
        "hand router": (hand_router, REQUESTS)}
    variants.update({name: (app, REQUESTS) for name, app in starlette_variants().items()})
    variants["the app, full path (/health, /status 404)"] = (
        local_app(), [("GET", "/v2/bench/health"), ("GET", "/v2/bench/status/job-1")])

    async def run() -> dict[str, list[float]]:
        timings: dict[str, list[float]] = {name: [] for name in variants}
        for app, made in variants.values():  # warm up
            await per_request(app, 2000, made)
        for _ in range(args.repeats):  # interleaved, so load on the machine hits all alike
            for name, (app, made) in variants.items():
                timings[name].append(await per_request(app, args.requests, made))
        return timings

    timings = asyncio.run(run())
    medians = {name: statistics.median(values) for name, values in timings.items()}
    base = medians["hand router"]
    rows = [[name, medians[name], medians[name] - base] for name in variants]
    print(f"Routing cost per request, in-process ASGI calls: median of {args.repeats} runs of "
          f"{args.requests} requests")
    print(format_table(["dispatch", "us/request", "us more than the hand router"], rows))
    path = write_result("local_routing", {
        "requests": args.requests, "repeats": args.repeats, "cpus": os.cpu_count(),
        "us_per_request": timings, "median_us_per_request": medians})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
