"""A CPU stand-in for ``vllm serve``: ``/health``, ``/v1/models``, ``/v1/chat/completions``
and ``/v1/completions`` over plain HTTP, with the ``llm`` example's replies.

Streams are written event by event (``token_delay`` seconds per token, from the body or
env ``FAKE_VLLM_TOKEN_DELAY``, default 0.01) and flushed, so the client reads them as the
network delivers them.  It exits when the process that started it is gone.
"""

import argparse
import asyncio
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rp_jupyter.local.examples import llm

ROUTES = ("/v1/chat/completions", "/v1/completions")


class OpenAIHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # a stream ends when the connection closes

    def log_message(self, *args):
        pass

    def _json(self, status: int, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self._json(200, {})
        elif self.path == "/v1/models":
            models = llm.models()
            models["data"][0]["server_pid"] = os.getpid()
            self._json(200, models)
        else:
            self._json(404, {"error": {"message": "Not Found", "type": "NotFoundError",
                                       "param": None, "code": 404}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path not in ROUTES:
            self._json(404, {"error": {"message": "Not Found", "type": "NotFoundError",
                                       "param": None, "code": 404}})
            return
        delay = float(body.pop("token_delay", os.environ.get("FAKE_VLLM_TOKEN_DELAY", 0.01)))
        try:
            reply = llm.Reply(self.path, body)
        except llm.RequestError as err:
            self._json(err.code, err.body())
            return
        if not reply.stream:
            self._json(200, asyncio.run(_first(reply.final(delay))))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        asyncio.run(self._stream(reply, delay))

    async def _stream(self, reply, delay: float) -> None:
        async for event in reply.events(delay):
            self.wfile.write(llm.sse(event).encode())
            self.wfile.flush()
        self.wfile.write(llm.DONE.encode())
        self.wfile.flush()


async def _first(items):
    async for item in items:
        return item


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    ThreadingHTTPServer((args.host, args.port), OpenAIHandler).serve_forever()
