"""Stand-in for worker-vllm v2.24+ (a proxy to ``vllm serve``; src/handler.py): with
``stream`` the SSE body is relayed as the HTTP client reads it, cut at arbitrary byte
positions (here: positions from ``seed``), never at event boundaries; without, the parsed
JSON answer once; errors as ``{"error": {...}}``, which fail the job."""

import random
import time

import runpod
from fake_text import completion, events, prompt_tokens


def _route(job_input):
    if job_input.get("openai_input"):
        return job_input.get("openai_route") or "/v1/chat/completions", job_input["openai_input"]
    if job_input.get("messages") is None and job_input.get("prompt") is None:
        raise ValueError("Job input must contain one of: openai_input (+openai_route), "
                         "route (+body), or prompt/messages.")
    body = {**(job_input.get("sampling_params") or {}),
            "stream": bool(job_input.get("stream", False))}
    if job_input.get("messages") is not None:
        return "/v1/chat/completions", {**body, "messages": job_input["messages"]}
    return "/v1/completions", {**body, "prompt": job_input["prompt"]}


def _error(message):
    return {"error": {"message": message, "type": "worker_error", "code": None}}


async def handler(job):
    job_input = job.get("input") or {}
    try:
        route, body = _route(job_input)
    except ValueError as exc:
        yield _error(str(exc))
        return
    if body.get("max_tokens", 16) > 4096:
        yield _error('vLLM returned HTTP 400: {"object":"error","message":"max_tokens is too '
                     'large","type":"BadRequestError","param":null,"code":400}')
        return
    kind = "chat" if route == "/v1/chat/completions" else "completion"
    count, n_prompt = int(body.get("max_tokens", 16)), prompt_tokens(body)
    if not body.get("stream"):
        yield completion(kind, count, n_prompt)
        return
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    raw = "".join(events(kind, count, n_prompt, include_usage)).encode()
    cuts = random.Random(job_input.get("seed", 0))
    delay = float(job_input.get("delay", 0))
    start = 0
    while start < len(raw):
        end = min(len(raw), start + cuts.randint(1, 120))
        if delay:
            time.sleep(delay)
        yield raw[start:end].decode("utf-8", errors="replace")
        start = end


runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
