"""``embed``: a CPU stand-in for worker-infinity-embedding: its inputs and its outputs, with
deterministic unit vectors derived from each text (no model).

- ``{"model", "input": str | [str]}``: an OpenAI embeddings dict ``{"object": "list",
  "data": [{"object": "embedding", "embedding": [...], "index": i}], "model", "usage"}``.
- ``{"openai_route": "/v1/embeddings", "openai_input": {"model", "input"}}`` (the
  platform's ``/openai/v1/embeddings``): the same dict in a list, ``[dict]``;
  ``"/v1/models"``: ``{"object": "list", "data": [{"id", "object": "model", ...}]}``.
- ``{"query", "docs", "return_docs", "model"}``: a rerank ``{"model", "results":
  [{"relevance_score", "index"[, "document"]}], "usage"}`` (word overlap as the score).
- Problems come back as infinity's error object ``{"object": "error", "message", "type",
  "param", "code"}`` (the job still completes, as with the worker).

Served models: env ``MODEL_NAMES`` (``;``-separated), default ``BAAI/bge-small-en-v1.5``;
vectors have 384 dimensions (768 for names with ``base``, 1024 with ``large``).  The
handler is a coroutine returning a value, named as infinity names it, and the worker runs
up to ``RUNPOD_MAX_CONCURRENCY`` jobs at once (``WORKER_CONFIG``).

Example: ``{"model": "BAAI/bge-small-en-v1.5", "input": ["a cat", "a dog"]}``.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import time
from typing import Any

from rp_jupyter.env_names import MODEL_NAMES_ENV, RUNPOD_MAX_CONCURRENCY_ENV

DEFAULT_MODEL = "BAAI/bge-small-en-v1.5"
MODELS = [m for m in os.environ.get(MODEL_NAMES_ENV, DEFAULT_MODEL).split(";") if m]
MAX_CONCURRENCY = int(os.environ.get(RUNPOD_MAX_CONCURRENCY_ENV, "300"))
CREATED = int(time.time())
_WORD = re.compile(r"\w+")

WORKER_CONFIG: dict[str, Any] = {"concurrency_modifier": lambda current: MAX_CONCURRENCY}


def error_response(message: str, code: int = 400,
                   kind: str = "BadRequestError") -> dict[str, Any]:
    """infinity's ``create_error_response(...).model_dump()``."""
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code}


def dimensions(model: str) -> int:
    name = model.lower()
    return 1024 if "large" in name else 768 if "base" in name else 384


def vector(text: str, model: str) -> list[float]:
    """A unit vector for ``text`` (the same text, the same vector)."""
    rng = random.Random(f"{model}|{text}")
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions(model))]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def _tokens(texts: list[str]) -> int:
    return sum(len(_WORD.findall(t)) + 2 for t in texts)


def embeddings(texts: Any, model: str | None) -> dict[str, Any]:
    """The OpenAI embeddings dict for ``texts`` (a string or a list of strings)."""
    model = model or MODELS[0]
    if model not in MODELS:
        raise LookupError(f"model {model!r} is not served here; served: {', '.join(MODELS)}")
    items = [texts] if isinstance(texts, str) else texts
    if not isinstance(items, list) or not items or not all(isinstance(t, str) for t in items):
        raise ValueError("input must be a string or a non-empty list of strings")
    usage = _tokens(items)
    return {"model": model, "object": "list",
            "data": [{"object": "embedding", "embedding": vector(t, model), "index": i}
                     for i, t in enumerate(items)],
            "usage": {"prompt_tokens": usage, "total_tokens": usage}}


def models() -> dict[str, Any]:
    return {"data": [{"id": m, "stats": {}, "object": "model", "owned_by": "infinity",
                      "created": CREATED, "backend": ""} for m in MODELS],
            "object": "list"}


def rerank(query: str, docs: list[str], return_docs: bool, model: str | None
           ) -> dict[str, Any]:
    model = model or MODELS[0]
    if model not in MODELS:
        raise LookupError(f"model {model!r} is not served here; served: {', '.join(MODELS)}")
    wanted = set(_WORD.findall(query.lower()))
    scores = []
    for doc in docs:
        found = set(_WORD.findall(doc.lower()))
        scores.append(round(len(wanted & found) / (len(wanted) or 1), 6))
    usage = _tokens([query, *docs])
    results = [{"relevance_score": s, "index": i, **({"document": d} if return_docs else {})}
               for i, (s, d) in enumerate(zip(scores, docs, strict=True))]
    return {"model": model, "results": results,
            "usage": {"prompt_tokens": usage, "total_tokens": usage}}


async def async_generator_handler(job: dict[str, Any]) -> Any:
    """The worker's handler (a coroutine returning a value, whatever its name says)."""
    job_input = job["input"]
    await asyncio.sleep(0)
    try:
        if job_input.get("openai_route"):
            route, body = job_input["openai_route"], job_input.get("openai_input") or {}
            if route == "/v1/models":
                return models()
            if route != "/v1/embeddings":
                return error_response(f"Invalid OpenAI Route: {route}")
            if not body:
                return error_response("Missing input")
            if not body.get("model"):
                return error_response("Did not specify model in openai_input")
            return [embeddings(body.get("input"), body["model"])]
        if job_input.get("query"):
            docs = job_input.get("docs") or []
            return rerank(str(job_input["query"]), [str(d) for d in docs],
                          bool(job_input.get("return_docs")), job_input.get("model"))
        if job_input.get("input"):
            return embeddings(job_input["input"], job_input.get("model"))
        return error_response(f"Invalid input: {job}")
    except (LookupError, ValueError) as err:
        return error_response(str(err))


handler = async_generator_handler

if __name__ == "__main__":  # as a runpod-python worker: python -m <this module>
    import runpod

    runpod.serverless.start({"handler": async_generator_handler, **WORKER_CONFIG})
