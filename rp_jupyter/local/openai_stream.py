"""Relay a job's chunks as server-sent events, for the OpenAI route.

A handler streams raw SSE text (strings, which may be cut anywhere, even inside an
event, as worker-vllm v2.24+ relays them) or chunk objects (dicts, or lists of them as
vLLM batches them with ``RAW_OPENAI_OUTPUT=0``).  Strings go out as they are; objects are
framed as ``data: <json>``.  The stream ends with ``data: [DONE]``, added when the handler
did not send it, after an error event when the job failed.

Example: ``frame({"x": 1}) == 'data: {"x":1}\\n\\n'``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from rp_jupyter.local.flags import Flag
from rp_jupyter.local.longpoll import wait_until
from rp_jupyter.local.server_job import _MISSING, ServerJob
from rp_jupyter.wire_rules import COMPLETED

DONE_EVENT = "data: [DONE]\n\n"
DONE_MARK = "data: [DONE]"
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
           (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


def frame(chunk: Any) -> str:
    """SSE text for one chunk: a string as it is, an object as one event, a list as one
    event per item."""
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, list):
        return "".join(frame(item) for item in chunk)
    return "data: " + json.dumps(chunk, separators=(",", ":"), ensure_ascii=False) + "\n\n"


class SentText:
    """What has gone out so far: whether ``[DONE]`` was among it (even when cut across
    two chunks), and how the text ends."""

    def __init__(self) -> None:
        self.done = False
        self.tail = ""

    def feed(self, text: str) -> None:
        window = self.tail + text
        self.done = self.done or DONE_MARK in window
        self.tail = window[-len(DONE_MARK):]

    def separator(self) -> str:
        """What must come before a new event so it is not glued to an unfinished one."""
        if not self.tail or self.tail.endswith("\n\n"):
            return ""
        return "\n" if self.tail.endswith("\n") else "\n\n"


async def relay(runtime: Any, job: ServerJob, send: Any, gone: Flag,
                closing: Flag, error_event: Callable[[], dict[str, Any]]) -> None:
    """Send ``job``'s chunks as they arrive until it is final; a client that hangs up
    before it has had ``[DONE]`` cancels the job (one that leaves after it has the whole
    reply, while the job's result is still on its way, does not)."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [*HEADERS, (b"x-request-id", job.id.encode())]})
    sent_chunks = 0
    text = SentText()
    while True:
        fresh = job.chunks[sent_chunks:]
        sent_chunks += len(fresh)
        body = "".join(frame(chunk) for chunk in fresh)
        if body:
            text.feed(body)
            await send({"type": "http.response.body", "body": body.encode(),
                        "more_body": True})
        if job.final and sent_chunks == len(job.chunks):
            break
        await wait_until(job, lambda seen=sent_chunks: len(job.chunks) > seen or job.final,
                         job.execution_timeout + 60.0, gone, closing)
        if gone.is_set():
            if not text.done:
                runtime.cancel(job)
            return
        if closing.is_set():
            break
    ending = ""
    if job.status == COMPLETED and sent_chunks == 0 and job.output is not _MISSING:
        ending += frame(job.output)  # a handler that returned instead of streaming
    elif job.status != COMPLETED:
        problem = error_event() if job.final else {"error": {
            "message": "the local endpoint is shutting down", "type": "server_error",
            "param": None, "code": None}}
        ending += text.separator() + frame(problem)
    if not text.done and DONE_MARK not in ending:
        probe = SentText()
        probe.tail = (text.tail + ending)[-len(DONE_MARK):]
        ending += probe.separator() + DONE_EVENT
    await send({"type": "http.response.body", "body": ending.encode(), "more_body": False})
