"""Run a local Runpod-compatible server in a background thread, from Python.

Example::

    from rp_jupyter.local import LocalEndpoint

    with LocalEndpoint("tokens", workers=2) as ep:
        print(ep.base_url)        # http://127.0.0.1:PORT/v2, what RUNPOD_ENDPOINT_BASE_URL is
        print(ep.url)             # http://127.0.0.1:PORT/v2/local

    server = LocalServer()
    server.add_endpoint("a", "echo")
    server.add_endpoint("b", "chaos", workers=2, run_retention=5.0)
    server.start()
    ...
    server.stop()

Starlette and uvicorn are imported only when a server starts.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from rp_jupyter.local.endpoint_settings import (
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    EndpointSettings,
    split_settings,
)
from rp_jupyter.local.faults import Faults
from rp_jupyter.local.handler_spec import HandlerSpec
from rp_jupyter.wire_rules import id_problem, path_segment

START_TIMEOUT = 30.0
_LIVE: weakref.WeakSet[LocalServer] = weakref.WeakSet()


class EndpointHandle:
    """The Python view of one endpoint on a :class:`LocalServer`: URLs, live settings,
    faults, request stats and job records."""

    def __init__(self, server: LocalServer, runtime: Any) -> None:
        self.server = server
        self._runtime = runtime

    @property
    def endpoint_id(self) -> str:
        return self._runtime.id

    @property
    def base_url(self) -> str:
        """What ``RUNPOD_ENDPOINT_BASE_URL`` would be: ``http://127.0.0.1:PORT/v2``."""
        return self.server.base_url

    @property
    def url(self) -> str:
        return f"{self.base_url}/{self.endpoint_id}"

    @property
    def openai_base_url(self) -> str:
        """The ``base_url`` for an OpenAI client: ``http://127.0.0.1:PORT/v2/ID/openai/v1``."""
        return f"{self.url}/openai/v1"

    @property
    def settings(self) -> EndpointSettings:
        """The live settings: changing a field takes effect on the next request."""
        return self._runtime.settings

    @property
    def faults(self) -> Faults:
        return self._runtime.settings.faults

    @property
    def handler(self) -> str:
        return self._runtime.spec.label

    @property
    def code_digest(self) -> str:
        """A SHA-256 of the handler's code as its workers loaded it (its source)."""
        return self._runtime.code_digest

    @property
    def cache_scope(self) -> str:
        """What this endpoint's answers are, for a client's ``cache="use"``: its handler,
        the hash of that handler's code and the settings that shape the output.  Pass it
        on (``Endpoint(id, base_url=..., cache_scope=ep.cache_scope)``) and an identical
        request is answered from the journal even after a restart on another port, and
        never with another handler's (or an older version's) result."""
        settings = self._runtime.settings
        facts = json.dumps([self.handler, self.code_digest,
                            bool(settings.return_aggregate_stream),
                            bool(settings.runpod_worker)])
        return "local-" + hashlib.sha256(facts.encode()).hexdigest()[:32]

    def request_count(self, op: str | None = None, job_id: str | None = None) -> int:
        """Client requests received (of one operation, about one job), whatever the answer."""
        return self._runtime.stats.count(op, job_id)

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """Every client request: ``{t, method, op, job_id, status_code}`` (``None`` if dropped)."""
        return [dict(entry) for entry in list(self._runtime.stats.log)]

    @property
    def fast_lane_requests(self) -> int:
        """Of the client requests, how many the fast lane answered without the app
        (:mod:`rp_jupyter.local.fast_lane`); the others took the general path."""
        return self._runtime.stats.lane

    def in_flight(self, op: str | None = None) -> int:
        """Client requests being processed right now (a held long-poll counts)."""
        return self._runtime.stats.in_flight(op)

    def reset_stats(self) -> None:
        self._runtime.stats.reset()

    def job_record(self, job_id: str) -> dict[str, Any] | None:
        """The server-side view of a job (wall-clock timestamps, chunk times, worker,
        attempts), or ``None`` if it is unknown or expired."""
        job = self._runtime.peek(job_id)
        return None if job is None else job.record()

    def health(self) -> dict[str, Any]:
        """The ``/health`` document, read directly (not counted)."""
        return self.server.call(self._runtime.health)

    def workers(self) -> list[dict[str, Any]]:
        """The endpoint's workers: ``{id, state, pid, job_id, external}`` each."""
        def view() -> list[dict[str, Any]]:
            return [{"id": s.id, "state": s.state, "job_id": s.job_id, "external": s.external,
                     "pid": getattr(s.process, "pid", None)}
                    for s in self._runtime.pool.slots.values()]

        return self.server.call(view)

    def simulate(self, **states: Any) -> None:
        """Change the simulated worker states live: ``cold_start`` (seconds), ``throttled``,
        ``unhealthy``, ``workers`` (see :mod:`rp_jupyter.local.simulation`).

        Example: ``ep.simulate(throttled=1)``, later ``ep.simulate(throttled=0)``.
        """
        from rp_jupyter.local.simulation import simulate

        self.server.call(lambda: simulate(self.settings, **states))

    def worker_env(self, worker_id: str = "external-worker") -> dict[str, str]:
        """Environment variables that point a runpod-python worker at this endpoint."""
        from rp_jupyter.local.protocol import worker_env

        return worker_env(self.base_url, self.endpoint_id, worker_id, self.settings.api_key)

    def wait_ready(self, timeout: float = 30.0, workers: int | None = None) -> None:
        """Block until ``workers`` (default: all configured, less the simulated throttled
        and unhealthy ones) workers are idle or busy.

        Raises :class:`~rp_jupyter.local.scripts.HandlerLoadError` (a ``RuntimeError`` and
        a ``ValueError``) saying why if the handler cannot be loaded, and ``TimeoutError``
        if the workers are not ready in time.
        """
        from rp_jupyter.local.scripts import HandlerLoadError
        from rp_jupyter.local.simulation import real_workers, simulated_counts

        wanted = real_workers(self.settings) if workers is None else workers
        deadline = time.monotonic() + timeout
        while True:
            counts = self.health()["workers"]
            if counts["idle"] + counts["running"] >= wanted:
                return
            error = self._runtime.pool.last_error
            if error and counts["unhealthy"] > simulated_counts(self.settings)["unhealthy"]:
                raise HandlerLoadError(error)
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers of endpoint {self.endpoint_id!r} not ready "
                                   f"after {timeout:g} s: {counts}")
            time.sleep(0.02)

    def __repr__(self) -> str:
        return f"<EndpointHandle {self.endpoint_id!r} {self.handler} at {self.url}>"


class LocalServer:
    """A local server hosting one or more named endpoints, run in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, loop: str = "auto",
                 http: str = "auto", max_header_bytes: int = MAX_HEADER_BYTES,
                 max_headers: int = MAX_HEADERS) -> None:
        """``loop`` is uvicorn's event-loop choice: ``"auto"`` (uvloop when installed),
        or ``"asyncio"``; ``http`` its HTTP parser: ``"auto"`` (httptools when installed),
        ``"h11"`` or ``"httptools"``.  A request whose line and headers pass
        ``max_header_bytes``, or that has more than ``max_headers`` headers, is answered 431.
        """
        if http not in ("auto", "h11", "httptools"):
            raise ValueError(f"http must be 'auto', 'h11' or 'httptools', not {http!r}")
        if max_header_bytes < 1024 or max_headers < 1:
            raise ValueError("max_header_bytes must be at least 1024 and max_headers at least 1")
        self.host = host
        self.loop_kind = loop
        self.http_kind = http
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        # IPPROTO_TCP named explicitly: asyncio turns Nagle off (TCP_NODELAY) only on
        # sockets whose protocol says TCP, and accepted sockets inherit it.  Without it
        # every request after the first on a kept-alive connection stalls ~40 ms
        # (Nagle's algorithm meeting the client's delayed ACK).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        from rp_jupyter.local.webhooks import WebhookSender  # no web framework needed yet

        self._pending: list[tuple[str, HandlerSpec, EndpointSettings]] = []
        self._handles: dict[str, EndpointHandle] = {}
        self._webhooks = WebhookSender()
        self._app: Any = None
        self._uvicorn: Any = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v2"

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopped

    def endpoint(self, endpoint_id: str) -> EndpointHandle:
        return self._handles[endpoint_id]

    @property
    def endpoints(self) -> dict[str, EndpointHandle]:
        return dict(self._handles)

    def add_endpoint(self, endpoint_id: str, handler: str | Callable[..., Any],
                     workers: int | None = None, *, settings: EndpointSettings | None = None,
                     **settings_kwargs: Any) -> EndpointHandle:
        """Host ``handler`` under ``endpoint_id``; settings are :class:`EndpointSettings`
        fields.  Works before or after :meth:`start`.

        Example: ``server.add_endpoint("b", "chaos", workers=2, run_retention=5.0)``.
        """
        problem = id_problem(endpoint_id)
        if problem is None and path_segment(endpoint_id) != endpoint_id:
            problem = "holds characters a worker's URL cannot carry as they are"
        if problem:
            raise ValueError(f"invalid endpoint id {ascii(endpoint_id)[:60]}: it {problem} "
                             "(use letters, digits, '-', '_', '.' and '~')")
        if endpoint_id in self._handles:
            raise ValueError(f"endpoint {endpoint_id!r} already exists")
        spec = HandlerSpec.of(handler)
        if spec.needs_fork and not hasattr(os, "fork"):
            raise ValueError(f"{spec.label} is defined in __main__ or inside a function, so "
                             "it can only run in a forked worker, and this platform cannot "
                             "fork: move it to a module or a file and pass 'file.py:name'")
        if workers is not None:
            settings_kwargs["workers"] = workers
        if settings is None:
            settings = EndpointSettings(**split_settings(settings_kwargs))
        else:
            for name, value in split_settings(settings_kwargs).items():
                setattr(settings, name, value)
        if settings.runpod_worker:
            from rp_jupyter.local.scripts import check_runpod_worker

            check_runpod_worker(spec.target)
        from rp_jupyter.local.server_endpoint import ServerEndpoint

        runtime = ServerEndpoint(endpoint_id, spec, settings, self._webhooks)
        handle = EndpointHandle(self, runtime)
        self._handles[endpoint_id] = handle
        if self._app is not None:
            self.call(self._app.attach, runtime)
        return handle

    def remove_endpoint(self, endpoint_id: str) -> None:
        """Stop one endpoint's workers and forget it, so its id can be used again (e.g.
        after its handler failed to load)."""
        handle = self._handles.pop(endpoint_id)
        app = self._app
        if app is None or app.loop is None or not self.running:
            return

        async def detach() -> None:
            app.endpoints.pop(endpoint_id, None)
            await handle._runtime.close()

        asyncio.run_coroutine_threadsafe(detach(), app.loop).result(15)

    def start(self) -> LocalServer:
        """Start serving in a background thread; returns once the server accepts requests."""
        with self._lock:
            if self._thread is not None:
                return self
            if self._stopped:
                raise RuntimeError("a stopped LocalServer cannot be restarted")
            import uvicorn

            from rp_jupyter.local.app import LocalApp
            from rp_jupyter.local.fast_lane import with_fast_lane
            from rp_jupyter.local.http_limits import H11_BUFFER_MARGIN, limited_protocol
            from rp_jupyter.local.http_writes import with_joined_writes

            app = LocalApp(max_headers=self.max_headers)
            app.webhooks = self._webhooks
            app.address = (self.host, self.port)
            for handle in self._handles.values():
                app.endpoints[handle.endpoint_id] = handle._runtime
            self._app = app
            self._sock.listen(2048)
            config = uvicorn.Config(
                app, loop=self.loop_kind, lifespan="on", log_config=None,
                log_level="warning", access_log=False, timeout_graceful_shutdown=1,
                timeout_keep_alive=75,
                proxy_headers=False,  # nothing here reads the client's address
                http=with_fast_lane(with_joined_writes(limited_protocol(
                    self.http_kind, self.max_header_bytes)), app),
                h11_max_incomplete_event_size=self.max_header_bytes + H11_BUFFER_MARGIN)
            self._uvicorn = uvicorn.Server(config)
            self._thread = threading.Thread(target=self._uvicorn.run,
                                            kwargs={"sockets": [self._sock]},
                                            name=f"rp-local-server-{self.port}", daemon=True)
            self._thread.start()
            _LIVE.add(self)
        deadline = time.monotonic() + START_TIMEOUT
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"local server on {self.root_url} did not start")
            time.sleep(0.005)
        return self

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        """Run ``fn(*args)`` on the server's event loop and return its result."""
        loop = self._app.loop if self._app is not None else None
        if loop is None or not self.running:
            return fn(*args)

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def stop(self) -> None:
        """Stop serving and kill every worker process; safe to call more than once."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        app, thread = self._app, self._thread
        if app is not None and app.loop is not None and thread is not None \
                and thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(app.shutdown(), app.loop).result(15)
            except Exception:
                pass
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if thread is not None:
            thread.join(10)
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._stopped else "not started")
        return f"<LocalServer {self.root_url} {state} endpoints={list(self._handles)}>"


class LocalEndpoint(EndpointHandle):
    """One endpoint on its own fresh server, on a free loopback port.

    Example::

        with LocalEndpoint("echo", endpoint_id="local", workers=1) as ep:
            httpx.post(f"{ep.url}/runsync", json={"input": {"x": 1}}).json()
    """

    def __init__(self, handler: str | Callable[..., Any], endpoint_id: str = "local",
                 workers: int | None = None, api_key: str | None = None, *,
                 host: str = "127.0.0.1", port: int = 0, loop: str = "auto",
                 http: str = "auto", max_header_bytes: int = MAX_HEADER_BYTES,
                 max_headers: int = MAX_HEADERS,
                 settings: EndpointSettings | None = None, **settings_kwargs: Any) -> None:
        server = LocalServer(host=host, port=port, loop=loop, http=http,
                             max_header_bytes=max_header_bytes, max_headers=max_headers)
        if api_key is not None:
            settings_kwargs["api_key"] = api_key
        try:
            handle = server.add_endpoint(endpoint_id, handler, workers, settings=settings,
                                         **settings_kwargs)
        except BaseException:
            server.stop()
            raise
        super().__init__(server, handle._runtime)

    def start(self) -> LocalEndpoint:
        """Start the server in the background; returns ``self``."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop the server and kill the workers (idempotent)."""
        self.server.stop()

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LocalEndpoint {self.endpoint_id!r} {self.handler} at {self.url}>"


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()
