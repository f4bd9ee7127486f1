"""``%runpod local``: local endpoints started from the notebook, in this kernel.

One :class:`~rp_jupyter.local.LocalServer` per kernel hosts every endpoint started here;
it stops with the kernel (or with ``%runpod local --stop``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["KernelEndpoints", "endpoint_id_for"]

EXAMPLES = ("echo", "tokens", "images", "chaos", "llm", "imagegen", "transcribe", "embed")


def endpoint_id_for(handler: Any) -> str:
    """A readable endpoint id for a handler: ``tokens``, ``my_handler``, ``worker``..."""
    if callable(handler):
        name = getattr(handler, "__name__", "handler")
    else:
        text = str(handler)
        module, _, attr = text.partition(":")
        if attr and attr != "handler":
            name = attr
        elif module.endswith(".py"):
            name = Path(module).stem
        else:
            name = module.rsplit(".", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "local"


class KernelEndpoints:
    """The local endpoints this kernel has started.

    ``%runpod local NAME`` again reuses the running endpoint only when NAME's code is
    unchanged (see :mod:`rp_jupyter.local.handler_code`); after an edit it is restarted
    with the new code.  ``last_start`` says which happened: ``"started"``, ``"reused"``
    or ``"restarted"``.
    """

    def __init__(self) -> None:
        self.server: Any = None
        self.handlers: dict[str, str] = {}
        self.last_start = "started"

    def start(self, handler: Any, *, endpoint_id: str | None = None, workers: int | None = None,
              aggregate: bool = False, retention: float | None = None,
              runpod_worker: bool = False, simulate: dict[str, Any] | None = None) -> Any:
        """Start (or reuse) ``handler`` under ``endpoint_id``; returns the endpoint handle.

        ``simulate`` holds simulated worker states (``workers``, ``throttled``, ``unhealthy``,
        ``cold_start``; see :mod:`rp_jupyter.local.simulation`), applied to a reused
        endpoint too; one restarted after an edit starts with only those given now.  With a
        cold start the workers are left initializing."""
        simulate = dict(simulate or {})
        if workers is not None:
            simulate["workers"] = workers
        from rp_jupyter.local import HandlerSpec, LocalServer
        from rp_jupyter.local.handler_code import code_digest

        endpoint_id = endpoint_id or endpoint_id_for(handler)
        label = getattr(handler, "__qualname__", None) or str(handler)
        if self.server is None or not self.server.running:
            self.server = LocalServer()
            self.handlers = {}
        self.last_start = "started"
        existing = self.server.endpoints.get(endpoint_id)
        if existing is not None:
            if self.handlers.get(endpoint_id) != label:
                raise ValueError(
                    f"a local endpoint {endpoint_id!r} already runs "
                    f"{self.handlers[endpoint_id]}; choose another id with --id, or stop it "
                    "with %runpod local --stop"
                )
            if existing.code_digest == code_digest(HandlerSpec.of(handler)):
                self.last_start = "reused"
                if simulate:
                    existing.simulate(**simulate)
                return existing
            self.server.remove_endpoint(endpoint_id)  # edited: its workers run old code
            self.handlers.pop(endpoint_id, None)
            self.last_start = "restarted"
        windows = {}
        if retention is not None:
            windows = {"run_retention": retention, "sync_retention": min(60.0, retention)}
        handle = self.server.add_endpoint(endpoint_id, handler,
                                          return_aggregate_stream=aggregate,
                                          runpod_worker=runpod_worker, **windows, **simulate)
        self.handlers[endpoint_id] = label
        self.server.start()
        try:
            if not handle.settings.cold_start:
                handle.wait_ready(timeout=60)
        except BaseException:  # e.g. a script that cannot be served: let a fixed one start
            self.server.remove_endpoint(endpoint_id)
            self.handlers.pop(endpoint_id, None)
            raise
        return handle

    def base_url_for(self, endpoint_id: str) -> str | None:
        """The base URL if ``endpoint_id`` is one of this kernel's local endpoints."""
        if self.server is not None and self.server.running and endpoint_id in self.handlers:
            return self.server.base_url
        return None

    def cache_scope_for(self, endpoint_id: str) -> str | None:
        """The handler identity and code hash answers of ``endpoint_id`` are kept under,
        if it is one of this kernel's local endpoints."""
        if self.base_url_for(endpoint_id) is None:
            return None
        return self.server.endpoint(endpoint_id).cache_scope

    @property
    def running(self) -> bool:
        return self.server is not None and self.server.running

    def stop(self) -> list[str]:
        """Stop every local endpoint; returns their ids."""
        stopped = list(self.handlers)
        if self.server is not None:
            self.server.stop()
        self.server, self.handlers = None, {}
        return stopped
