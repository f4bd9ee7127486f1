"""Stand-in for worker-vllm v2.24+ ``src/main.py``: spawn the OpenAI server, wait for it,
start the runpod serverless loop (inside ``main()``, under the ``__main__`` guard).

The server is ``fake_vllm_serve.py``, a CPU stand-in for ``vllm serve``; everything else
keeps the official file's shape.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


VLLM_HOST = "127.0.0.1"
VLLM_PORT = os.environ.setdefault("VLLM_PORT", _free_port())  # each worker its own server
STARTUP_TIMEOUT = int(os.getenv("VLLM_STARTUP_TIMEOUT", "60"))  # seconds
HEALTH_POLL_INTERVAL = 0.1  # seconds

vllm_process: subprocess.Popen | None = None


def start_vllm() -> subprocess.Popen:
    server = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_vllm_serve.py")
    argv = [sys.executable, server, "--host", VLLM_HOST, "--port", VLLM_PORT]
    logging.info("Starting vLLM: %s", " ".join(argv))
    return subprocess.Popen(argv)


def wait_for_vllm(proc: subprocess.Popen) -> None:
    """Poll GET /health until vLLM is ready; fail fast if it crashes or times out."""
    url = f"http://{VLLM_HOST}:{VLLM_PORT}/health"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vLLM serve exited during startup with code {proc.returncode}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url), timeout=10) as resp:
                if resp.status == 200:
                    logging.info("vLLM is healthy")
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(HEALTH_POLL_INTERVAL)
    raise RuntimeError(f"vLLM did not become healthy within {STARTUP_TIMEOUT}s")


def _forward_signal(signum, _frame):
    logging.info("Received signal %s, shutting down vLLM", signum)
    if vllm_process and vllm_process.poll() is None:
        vllm_process.send_signal(signum)
    sys.exit(128 + signum)


def main() -> None:
    global vllm_process

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _forward_signal)

    vllm_process = start_vllm()
    try:
        wait_for_vllm(vllm_process)
    except RuntimeError as e:
        logging.error("%s", e)
        sys.exit(1)

    # Import here (not at module import time) so the RunPod SDK and handler
    # start only after the backend is confirmed healthy.
    import handler as proxy_handler
    import runpod

    proxy_handler.vllm_process = vllm_process

    max_concurrency = int(os.getenv("MAX_CONCURRENCY", "30"))
    runpod.serverless.start(
        {
            "handler": proxy_handler.handler,
            "concurrency_modifier": lambda _current: max_concurrency,
            "return_aggregate_stream": True,
        }
    )


if __name__ == "__main__":
    main()
