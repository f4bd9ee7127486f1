"""Run a local server with several endpoints in this process, for a benchmark in another.

``python bench/_serve_endpoints.py SPEC_JSON`` where SPEC_JSON is
``{"api_key": ..., "endpoints": {ID: {"handler": ..., <EndpointSettings fields>}}}``;
``rate_limits`` may map an operation to ``[requests, per_seconds, concurrency]``.
Prints the base URL on one line once every worker is ready, then serves until SIGTERM.
The benchmark reads counts and server-side timestamps through ``/_local``.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any

from rp_jupyter.local import LocalServer, RateLimit


def _settings(spec: dict[str, Any], api_key: str | None) -> dict[str, Any]:
    settings = dict(spec)
    settings.pop("handler")
    limits = settings.get("rate_limits")
    if isinstance(limits, dict):
        settings["rate_limits"] = {op: RateLimit(*v) for op, v in limits.items()}
    if api_key:
        settings["api_key"] = api_key
    return settings


def main() -> None:
    spec = json.loads(sys.argv[1])
    server = LocalServer(port=0)
    for endpoint_id, endpoint in spec["endpoints"].items():
        server.add_endpoint(endpoint_id, endpoint["handler"],
                            **_settings(endpoint, spec.get("api_key")))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    try:
        for handle in server.endpoints.values():
            handle.wait_ready(60.0)
        print(server.base_url, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
