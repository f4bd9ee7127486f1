"""The ``llm`` example's OpenAI mode: what vLLM's OpenAI server answers on
``/v1/chat/completions``, ``/v1/completions`` and ``/v1/models``, and the stream as the
worker yields it (batches of raw SSE text, the text cut anywhere, or lists of objects)."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from rp_jupyter.local.examples import wordgen
from rp_jupyter.local.examples.llm_params import (
    CREATED,
    DEFAULT_BATCH_SIZE,
    DEFAULT_GROWTH,
    DEFAULT_MIN_BATCH_SIZE,
    MAX_MODEL_LEN,
    MODEL,
    BatchSize,
    RequestError,
    chat_prompt,
    pause,
    sample_choices,
    sampling_params,
)

DONE = "data: [DONE]\n\n"


def models() -> dict[str, Any]:
    """``/v1/models``: the served model."""
    return {"object": "list", "data": [{
        "id": MODEL, "object": "model", "created": CREATED, "owned_by": "vllm", "root": MODEL,
        "parent": None, "max_model_len": MAX_MODEL_LEN}]}


class Reply:
    """One OpenAI request's reply: the whole object, or its chunk events as made."""

    def __init__(self, route: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise RequestError("openai_input must be a JSON object")
        model = body.get("model")
        if model is not None and model != MODEL:
            raise RequestError(f"The model `{model}` does not exist.", 404, "NotFoundError",
                               "model")
        self.chat = route == "/v1/chat/completions"
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        sampling = sampling_params({"max_tokens": limit,
                                    "temperature": body.get("temperature", 1.0),
                                    "seed": body.get("seed"), "n": body.get("n", 1)}, None)
        if self.chat:
            text, words = chat_prompt(body.get("messages"))
            prompts = [(text, words)]
        else:
            prompt = body.get("prompt")
            listed = prompt if isinstance(prompt, list) else [prompt]
            if not listed or not all(isinstance(p, str) for p in listed):
                raise RequestError("prompt must be a string or a list of strings",
                                   param="prompt")
            prompts = [(p, p) for p in listed]
        self.n_input = sum(wordgen.count_tokens(text) for text, _ in prompts)
        self.choices: list[tuple[list[str], str]] = []
        for k, (_, words) in enumerate(prompts):
            self.choices += sample_choices(words, sampling, first_index=k * sampling["n"])
        self.stream = body.get("stream") is True
        options = body.get("stream_options") or {}
        self.include_usage = self.stream and bool(options.get("include_usage"))
        prefix = "chatcmpl" if self.chat else "cmpl"
        self.id = f"{prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.seed = f"{sampling['seed']}|{prompts[0][1]}"

    @property
    def usage(self) -> dict[str, int]:
        out = sum(len(tokens) for tokens, _ in self.choices)
        return {"prompt_tokens": self.n_input, "total_tokens": self.n_input + out,
                "completion_tokens": out}

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": MODEL}

    def chunk(self, index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        """One ``chat.completion.chunk`` (chat) or streamed ``text_completion``."""
        if self.chat:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**self._head("chat.completion.chunk"), "choices": [choice]}
        choice = {"index": index, "text": delta.get("content", ""), "logprobs": None,
                  "finish_reason": finish, "stop_reason": None}
        return {**self._head("text_completion"), "choices": [choice]}

    async def events(self, delay: float) -> AsyncIterator[dict[str, Any]]:
        """The stream's chunk objects, each token after ``delay``."""
        if self.chat:
            for index in range(len(self.choices)):
                yield self.chunk(index, {"role": "assistant", "content": ""}, None)
        for step in range(max(len(tokens) for tokens, _ in self.choices)):
            await pause(delay)
            for index, (tokens, _) in enumerate(self.choices):
                if step < len(tokens):
                    yield self.chunk(index, {"content": tokens[step]}, None)
        for index, (_, finish) in enumerate(self.choices):
            yield self.chunk(index, {}, finish)
        if self.include_usage:
            kind = "chat.completion.chunk" if self.chat else "text_completion"
            yield {**self._head(kind), "choices": [], "usage": self.usage}

    async def final(self, delay: float) -> AsyncIterator[dict[str, Any]]:
        """The whole ``chat.completion`` / ``text_completion``, once generated."""
        for _ in range(max(len(tokens) for tokens, _ in self.choices)):
            await pause(delay)
        if self.chat:
            choices = [{"index": i, "message": {"role": "assistant", "content": "".join(t),
                                                "tool_calls": []},
                        "logprobs": None, "finish_reason": f, "stop_reason": None}
                       for i, (t, f) in enumerate(self.choices)]
            yield {**self._head("chat.completion"), "choices": choices, "usage": self.usage}
        else:
            choices = [{"index": i, "text": "".join(t), "logprobs": None, "finish_reason": f,
                        "stop_reason": None} for i, (t, f) in enumerate(self.choices)]
            yield {**self._head("text_completion"), "choices": choices, "usage": self.usage}


def sse(event: dict[str, Any]) -> str:
    """One server-sent event as vLLM writes it."""
    return "data: " + json.dumps(event, separators=(",", ":")) + "\n\n"


async def openai_mode(data: dict[str, Any], delay: float, split: str) -> AsyncIterator[Any]:
    route = data["openai_route"]
    if route == "/v1/models":
        yield models()
        return
    if route not in ("/v1/chat/completions", "/v1/completions"):
        raise RequestError("Invalid route")
    reply = Reply(route, data.get("openai_input") or {})
    if not reply.stream:
        async for done in reply.final(delay):
            yield done
        return
    if split == "bytes":
        async for piece in _split_anywhere(reply, delay):
            yield piece
        return
    sizes = BatchSize(DEFAULT_BATCH_SIZE, DEFAULT_MIN_BATCH_SIZE, DEFAULT_GROWTH)
    batch: list[Any] = []

    def take() -> Any:
        nonlocal batch
        out = "".join(batch) if split == "events" else batch
        batch = []
        sizes.update()
        return out

    async for event in reply.events(delay):
        batch.append(sse(event) if split == "events" else event)
        if len(batch) >= sizes.current:
            yield take()
    if split == "events":
        batch.append(DONE)
    if batch:
        yield take()


async def _split_anywhere(reply: Reply, delay: float) -> AsyncIterator[str]:
    """The SSE text cut where a network might cut it, not at event boundaries."""
    rng = random.Random(f"split|{reply.seed}")
    unsent = ""
    async for event in reply.events(delay):
        unsent += sse(event)
        while len(unsent) > 64:
            cut = rng.randint(1, 64)
            yield unsent[:cut]
            unsent = unsent[cut:]
    unsent += DONE
    while unsent:
        cut = rng.randint(1, 64)
        yield unsent[:cut]
        unsent = unsent[cut:]
