"""Stand-in for worker-vllm v2.24+ ``src/handler.py``: proxy jobs to the local OpenAI server.

Accepted job inputs, as the official handler's: ``{"openai_route", "openai_input"}`` (the
platform's OpenAI passthrough), ``{"route", "body", "method"}``, or the legacy
``{"prompt" | "messages", "sampling_params", "stream"}`` (a prompt goes to
``/v1/completions``).  With ``"stream": true`` the raw SSE bytes are yielded as they
arrive, split wherever the network splits them; otherwise the parsed JSON once.
"""

import logging
import os
from typing import Any, AsyncGenerator, Optional, Tuple

import aiohttp

VLLM_PORT = os.getenv("VLLM_PORT", "8000")
VLLM_BASE_URL = os.getenv("VLLM_BASE_URL", f"http://127.0.0.1:{VLLM_PORT}")
REQUEST_TIMEOUT = float(os.getenv("REQUEST_TIMEOUT", "3600"))

DEFAULT_CHAT_ROUTE = "/v1/chat/completions"
DEFAULT_COMPLETION_ROUTE = "/v1/completions"

# Set by main.py once the server subprocess runs, to fail fast on a dead server.
vllm_process = None


def _is_vllm_alive() -> bool:
    return vllm_process is None or vllm_process.poll() is None


def _normalize_job_input(job_input: dict) -> Tuple[str, str, Optional[dict]]:
    """Return (route, method, body) for any accepted job input shape."""
    if job_input.get("openai_input"):
        route = job_input.get("openai_route") or DEFAULT_CHAT_ROUTE
        return route, "POST", job_input["openai_input"]
    if job_input.get("openai_route"):
        return job_input["openai_route"], "GET", None  # e.g. /v1/models
    if job_input.get("route"):
        body = job_input.get("body")
        method = (job_input.get("method") or ("POST" if body else "GET")).upper()
        return job_input["route"], method, body
    messages = job_input.get("messages")
    prompt = job_input.get("prompt")
    if messages is None and prompt is None:
        raise ValueError("Job input must contain one of: openai_input (+openai_route), "
                         "route (+body), or prompt/messages.")
    body = {**dict(job_input.get("sampling_params") or {}),
            "stream": bool(job_input.get("stream", False))}
    if messages is not None:
        body["messages"] = messages
        return DEFAULT_CHAT_ROUTE, "POST", body
    body["prompt"] = prompt
    return DEFAULT_COMPLETION_ROUTE, "POST", body


def _error(message: str) -> dict:
    return {"error": {"message": message, "type": "worker_error", "code": None}}


async def handler(job: dict) -> AsyncGenerator[Any, None]:
    job_input = job.get("input") or {}
    try:
        route, method, body = _normalize_job_input(job_input)
    except ValueError as e:
        yield _error(str(e))
        return
    if not _is_vllm_alive():
        yield _error("vLLM server process is not running; worker is unhealthy")
        return
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    headers = {"Content-Type": "application/json"}
    try:
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            async with session.request(method, f"{VLLM_BASE_URL}{route}", json=body) as resp:
                if resp.status >= 400:
                    detail = await resp.text()
                    logging.error("vLLM %s %s returned HTTP %s: %s", method, route,
                                  resp.status, detail)
                    yield _error(f"vLLM returned HTTP {resp.status}: {detail}")
                    return
                if isinstance(body, dict) and body.get("stream") is True:
                    async for chunk in resp.content.iter_any():
                        yield chunk.decode("utf-8", errors="replace")
                else:
                    yield await resp.json(content_type=None)
    except aiohttp.ClientError as e:
        logging.exception("Request to vLLM failed")
        yield _error(f"Request to vLLM failed: {e}")
