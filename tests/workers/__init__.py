"""Stand-in worker scripts shaped like the official Runpod workers (reference/workers.md):
each is an unchanged-style ``runpod.serverless.start`` script the local endpoint serves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

WORKERS = Path(__file__).resolve().parent
STAND_INS = ("vllm", "vllm_proxy", "comfyui", "sdxl", "public_image", "whisper", "embedding")


def script(name: str) -> str:
    """The path of the stand-in worker ``name`` (``vllm``, ``vllm_proxy``, ``comfyui``, ...)."""
    return str(WORKERS / f"{name}_worker.py")


@contextlib.contextmanager
def stand_in_server(*names: str) -> Iterator:
    """A local server with one endpoint per stand-in (named after it), workers ready."""
    from rp_jupyter.local import LocalServer

    with LocalServer() as server:
        for name in names or STAND_INS:
            server.add_endpoint(name, script(name), workers=1)
        for handle in server.endpoints.values():
            handle.wait_ready(60)
        yield server


@contextlib.contextmanager
def file_site(folder: Path) -> Iterator[str]:
    """A loopback web server for the files in ``folder`` (where a public endpoint's result
    URLs point); yields its base URL."""
    import http.server
    import threading

    class Files(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
