"""Stand-in for worker-vllm v2.23 (in-process engine; src/handler.py, src/engine.py):
native token batches of 1, 3, 9, 27, then 50 tokens, or one batch when not streaming;
OpenAI mode (``openai_route`` + ``openai_input``): raw SSE strings, several events per
string, or a whole completion object.  ``return_aggregate_stream``: the output is every
yield.  ``delay`` (seconds per batch) paces it for tests that watch it live."""

import time

import runpod
from fake_text import completion, events, prompt_tokens, tokens, vllm_error


def _batch_sizes(job_input):
    size = int(job_input.get("min_batch_size") or 1)
    largest = int(job_input.get("max_batch_size") or 50)
    growth = int(job_input.get("batch_size_growth_factor") or 3)
    while True:
        yield min(size, largest)
        size = min(size * growth, largest)


def _native(job_input):
    sampling = job_input.get("sampling_params") or {}
    count = int(sampling.get("max_tokens", 100))
    n_prompt = prompt_tokens(job_input)
    words = tokens(count)
    delay = float(job_input.get("delay", 0))
    if not job_input.get("stream", False):
        yield {"choices": [{"tokens": ["".join(words)]}],
               "usage": {"input": n_prompt, "output": count}}
        return
    sizes, sent = _batch_sizes(job_input), 0
    while sent < count:
        size = next(sizes)
        batch = words[sent:sent + size]
        sent += len(batch)
        if delay:
            time.sleep(delay)
        yield {"choices": [{"tokens": batch}], "usage": {"input": n_prompt, "output": sent}}


def _openai(job_input):
    route = job_input["openai_route"]
    body = job_input.get("openai_input") or {}
    if route not in ("/v1/chat/completions", "/v1/completions"):
        yield vllm_error(f"Invalid route {route}", 404)
        return
    kind = "chat" if route == "/v1/chat/completions" else "completion"
    count = int(body.get("max_tokens", 16))
    n_prompt = prompt_tokens(body)
    if not body.get("stream"):
        yield completion(kind, count, n_prompt)
        return
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    every = events(kind, count, n_prompt, include_usage)
    sizes, sent = _batch_sizes(job_input), 0
    delay = float(job_input.get("delay", 0))
    while sent < len(every):
        size = next(sizes)
        if delay:
            time.sleep(delay)
        yield "".join(every[sent:sent + size])
        sent += size


async def handler(job):
    job_input = job["input"]
    source = _openai(job_input) if job_input.get("openai_route") else _native(job_input)
    for batch in source:
        yield batch


runpod.serverless.start({
    "handler": handler,
    "concurrency_modifier": lambda current: 4,
    "return_aggregate_stream": True,
})
