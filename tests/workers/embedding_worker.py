"""Stand-in for worker-infinity-embedding (src/handler.py): the handler is
``async_generator_handler``, a coroutine returning the OpenAI embeddings dict
(``[dict]`` through ``openai_route``); vectors of ``dimensions`` deterministic floats."""

import runpod

MODEL = "BAAI/bge-small-en-v1.5"


def _vector(text, dimensions):
    seed = sum(map(ord, text))
    return [round(((seed * (i + 7)) % 1000) / 1000 - 0.5, 6) for i in range(dimensions)]


def _answer(texts, dimensions):
    return {"object": "list", "model": MODEL,
            "data": [{"object": "embedding", "embedding": _vector(t, dimensions), "index": i}
                     for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": sum(len(t.split()) for t in texts),
                      "total_tokens": sum(len(t.split()) for t in texts)}}


async def async_generator_handler(job):
    job_input = job["input"]
    dimensions = int(job_input.get("dimensions", 384))
    if job_input.get("openai_route"):
        body = job_input.get("openai_input") or {}
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        return [_answer(texts, dimensions)]
    texts = job_input["input"]
    return _answer([texts] if isinstance(texts, str) else texts, dimensions)


runpod.serverless.start({"handler": async_generator_handler})
