"""Handlers used by the local endpoint tests (imported by name inside worker processes)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any


def job_view(job: dict[str, Any]) -> dict[str, Any]:
    """Everything the handler was given, except nothing."""
    return {"keys": sorted(job), "job": job}


def raises(job: dict[str, Any]) -> Any:
    raise ValueError(job["input"].get("message", "bad value"))


def soft_error(job: dict[str, Any]) -> dict[str, Any]:
    return {"error": "soft failure", "detail": 1}


def soft_error_only(job: dict[str, Any]) -> dict[str, Any]:
    return {"error": "only the error"}


def returns_scalar(job: dict[str, Any]) -> Any:
    return job["input"].get("value", 42)


def not_serializable(job: dict[str, Any]) -> Any:
    return {"thing": object()}


async def async_echo(job: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"async": job["input"]}


def numbers(job: dict[str, Any]) -> Any:
    yield from range(int(job["input"].get("n", 3)))


async def async_numbers(job: dict[str, Any]) -> Any:
    for i in range(int(job["input"].get("n", 3))):
        await asyncio.sleep(0)
        yield {"i": i}


def generator_raises(job: dict[str, Any]) -> Any:
    yield "first"
    raise KeyError("generator gave up")


def generator_error_chunk(job: dict[str, Any]) -> Any:
    yield "a"
    yield {"error": "bad chunk"}
    yield "never sent"


def pid(job: dict[str, Any]) -> int:
    return os.getpid()


def refresh(job: dict[str, Any]) -> dict[str, Any]:
    return {"pid": os.getpid(), "refresh_worker": True}


def progress(job: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True}


def broken_import_handler(job: dict[str, Any]) -> Any:  # pragma: no cover - never loaded
    return None


# -- shapes for the OpenAI route ---------------------------------------------------------


def _event(text: str) -> str:
    chunk = {"object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return "data: " + json.dumps(chunk) + "\n\n"


def sse_without_done(job: dict[str, Any]) -> Any:
    """Raw SSE text without the closing ``[DONE]``."""
    yield _event("one ") + _event("two")


def done_then_lingers(job: dict[str, Any]) -> Any:
    """The whole reply and ``[DONE]``, then a moment of work before the job ends."""
    yield _event("all of it") + "data: [DONE]\n\n"
    time.sleep(1.0)


def chunk_objects(job: dict[str, Any]) -> Any:
    """Chunk objects instead of SSE text (a dict, then a list of two)."""
    yield json.loads(_event("a ")[len("data: "):])
    yield [json.loads(_event("b ")[len("data: "):]), json.loads(_event("c")[len("data: "):])]


def fails_mid_stream(job: dict[str, Any]) -> Any:
    yield _event("partial")
    raise RuntimeError("the model fell over")


def returns_openai_list(job: dict[str, Any]) -> Any:
    """A plain handler answering ``[dict]``, as worker-infinity-embedding does."""
    return [{"object": "list", "route": job["input"]["openai_route"],
             "body": job["input"].get("openai_input")}]


def raises_plain(job: dict[str, Any]) -> Any:
    raise ValueError("cannot answer that")


# -- what a worker process has and leaves behind -------------------------------------------


def environment(job: dict[str, Any]) -> dict[str, Any]:
    """The worker's environment, as the handler sees it."""
    return {"env": dict(os.environ), "pid": os.getpid()}


def starts_a_sleep(job: dict[str, Any]) -> Any:
    """Start a ``sleep`` of its own, stream its pid, then wait for it (never returning)."""
    import subprocess

    child = subprocess.Popen(["sleep", "300"])
    yield {"sleep_pid": child.pid, "worker_pid": os.getpid()}
    child.wait()


def starts_a_sleep_then_dies(job: dict[str, Any]) -> Any:
    """Start a ``sleep``, stream its pid, then end the worker process abruptly once the
    file ``input.go`` exists (the test creates it when it has seen the pid)."""
    import subprocess
    import time

    child = subprocess.Popen(["sleep", "300"])
    yield {"sleep_pid": child.pid, "worker_pid": os.getpid()}
    deadline = time.monotonic() + 60
    while not os.path.exists(job["input"]["go"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    os._exit(3)
