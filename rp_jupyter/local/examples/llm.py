"""``llm``: a CPU stand-in for the vLLM worker (``runpod-workers/worker-vllm``): its inputs,
its output shapes, and deterministic fake tokens from a seeded word generator.

Native mode (the in-process worker): ``prompt`` or ``messages``; ``sampling_params``
(``max_tokens`` default 100, ``temperature``, ``seed``, ``n``...); ``stream``;
``max_batch_size`` / ``min_batch_size`` / ``batch_size_growth_factor``;
``apply_chat_template``.  Streaming yields batches
``{"choices": [{"tokens": [...]}], "usage": {"input": N, "output": M}}`` of 1, 3, 9, 27,
then 50 tokens; otherwise one batch holds the whole text.  ``use_openai_format: true``
answers ``chat.completion.chunk`` objects (streaming) or one ``chat.completion``.

OpenAI mode (``openai_route`` + ``openai_input``, what the platform's ``/openai/v1`` route
sends): ``/v1/chat/completions`` and ``/v1/completions`` stream STRINGS of raw SSE
(``"data: {...}\\n\\n"``, several events per string, 1, 3, 9... per batch) ending with
``data: [DONE]``, or yield one ``chat.completion`` / ``text_completion`` dict;
``/v1/models`` lists the model.  Errors are ``{"error": {"message", "type", "param",
"code"}}`` yields, which fail the job, as with the worker.

The final output is the list of every yield (``return_aggregate_stream``, in
``WORKER_CONFIG``; the worker also runs up to ``MAX_CONCURRENCY`` jobs at once).

Local knobs, at the top of the input or inside ``openai_input``: ``token_delay``, seconds
per token (default 0.02, or env ``LLM_TOKEN_DELAY``; 0 for tests), and ``sse_split``:
``"events"`` (default), ``"bytes"`` (the SSE text split at arbitrary positions, as the
v2.24+ proxy relays it) or ``"objects"`` (lists of chunk objects, as with env
``RAW_OPENAI_OUTPUT=0``, which also makes it the default).  The model is named by env
``OPENAI_SERVED_MODEL_NAME_OVERRIDE`` or ``MODEL_NAME`` (default ``rp-jupyter/fake-llm``).

Example: ``{"prompt": "Hello", "sampling_params": {"max_tokens": 5}, "token_delay": 0}``
gives ``[{"choices": [{"tokens": ["Signal waits the hello bright"]}], "usage": ...}]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from rp_jupyter.local.examples import wordgen

MODEL = (os.environ.get("OPENAI_SERVED_MODEL_NAME_OVERRIDE") or os.environ.get("MODEL_NAME")
         or "rp-jupyter/fake-llm")
MAX_CONCURRENCY = int(os.environ.get("MAX_CONCURRENCY", "30"))
MAX_MODEL_LEN = 8192
DEFAULT_BATCH_SIZE, DEFAULT_MIN_BATCH_SIZE, DEFAULT_GROWTH = 50, 1, 3
DEFAULT_TOKEN_DELAY = 0.02
CREATED = int(time.time())
DONE = "data: [DONE]\n\n"
SPLITS = ("events", "bytes", "objects")
SAMPLING_KEYS = frozenset({
    "n", "best_of", "presence_penalty", "frequency_penalty", "repetition_penalty",
    "temperature", "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos",
    "max_tokens", "min_tokens", "logprobs", "prompt_logprobs", "skip_special_tokens",
    "spaces_between_special_tokens", "include_stop_str_in_output"})

#: what the worker passes to runpod.serverless.start besides its handler
WORKER_CONFIG: dict[str, Any] = {
    "return_aggregate_stream": True,
    "concurrency_modifier": lambda current: MAX_CONCURRENCY,
}


class RequestError(Exception):
    """A bad request, answered as vLLM's OpenAI server would."""

    def __init__(self, message: str, code: int = 400, kind: str = "BadRequestError",
                 param: str | None = None) -> None:
        super().__init__(message)
        self.code, self.kind, self.param = code, kind, param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param,
                          "code": self.code}}


class BatchSize:
    """How many tokens (or SSE events) go in the next yield: vLLM's growing batches."""

    def __init__(self, largest: int, smallest: int, growth: float) -> None:
        self.largest, self.growth = largest, growth
        self.dynamic = growth > 1 and smallest >= 1 and largest > smallest
        self.current: float = smallest if self.dynamic else largest

    def update(self) -> None:
        if self.dynamic:
            self.current = min(self.current * self.growth, self.largest)


async def handler(job: dict[str, Any]) -> AsyncIterator[Any]:
    """The worker's handler: an async generator, as in worker-vllm."""
    data = dict(job.get("input") or {})
    openai = bool(data.get("openai_route"))
    try:
        delay, split = _knobs(data)
        if openai:
            source = _openai(data, delay, split)
        elif data.get("use_openai_format"):
            source = _native_openai_format(data, delay)
        else:
            source = _native(data, delay)
        async for item in source:
            yield item
    except RequestError as err:
        yield err.body() if openai else {"error": str(err)}


# -- input ---------------------------------------------------------------------------------


def _knobs(data: dict[str, Any]) -> tuple[float, str]:
    body = data.get("openai_input") if isinstance(data.get("openai_input"), dict) else {}
    if body:
        body = data["openai_input"] = dict(body)
    raw_delay = data.pop("token_delay", body.pop("token_delay", None))
    default_split = "events" if os.environ.get("RAW_OPENAI_OUTPUT", "1").lower() not in (
        "0", "false") else "objects"
    split = data.pop("sse_split", body.pop("sse_split", default_split))
    if raw_delay is None:
        raw_delay = os.environ.get("LLM_TOKEN_DELAY", DEFAULT_TOKEN_DELAY)
    try:
        delay = float(raw_delay)
    except (TypeError, ValueError):
        raise RequestError(f"token_delay must be a number of seconds, got {raw_delay!r}"
                           ) from None
    if not 0 <= delay <= 10:
        raise RequestError(f"token_delay must be between 0 and 10 seconds, got {delay:g}")
    if split not in SPLITS:
        raise RequestError(f"sse_split must be one of {', '.join(SPLITS)}, got {split!r}")
    return delay, split


def _content(message: Any, where: str) -> str:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise RequestError(f"{where} must be an object with a 'role'", param="messages")
    content = message.get("content")
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content
                        if isinstance(part, dict) and part.get("type") == "text")
    raise RequestError(f"{where}.content must be a string or a list of parts",
                       param="messages")


def chat_prompt(messages: Any) -> tuple[str, str]:
    """The chat template applied (what the input tokens are counted on) and the words the
    reply draws from."""
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list of chat messages",
                           param="messages")
    contents = [_content(m, f"messages[{i}]") for i, m in enumerate(messages)]
    template = "".join(f"<|{m['role']}|>\n{c}\n" for m, c in zip(messages, contents,
                                                                 strict=True))
    return template + "<|assistant|>\n", "\n".join(contents)


def _native_prompt(data: dict[str, Any]) -> tuple[str, str]:
    llm_input = data.get("messages", data.get("prompt"))
    if llm_input is None:
        raise RequestError("the input needs 'prompt' (a string) or 'messages' (a list of "
                           "chat messages)")
    if isinstance(llm_input, list):
        return chat_prompt(llm_input)
    if not isinstance(llm_input, str):
        raise RequestError("'prompt' must be a string")
    if data.get("apply_chat_template"):
        return chat_prompt([{"role": "user", "content": llm_input}])
    return llm_input, llm_input


def _number(value: Any, name: str, low: float, high: float, *, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise RequestError(f"{name} must be {kind} from {low:g} to {high:g}, got {value!r}",
                           param=name)
    return value


def _sampling(params: Any, default_max: int | None) -> dict[str, Any]:
    """Checked sampling parameters: max_tokens, temperature, seed, n."""
    params = dict(params or {})
    unknown = set(params) - SAMPLING_KEYS
    if unknown:
        raise RequestError(f"unknown sampling parameter(s): {', '.join(sorted(unknown))}")
    max_tokens = params.get("max_tokens", default_max)
    if max_tokens is not None:
        _number(max_tokens, "max_tokens", 1, MAX_MODEL_LEN, integer=True)
    temperature = _number(params.get("temperature", 1.0), "temperature", 0, 2)
    seed = params.get("seed")
    if seed is not None:
        _number(seed, "seed", -(2 ** 63), 2 ** 63, integer=True)
    n = _number(params.get("n", 1), "n", 1, 8, integer=True)
    return {"max_tokens": max_tokens, "temperature": temperature, "seed": seed or 0, "n": n}


def _choices(words: str, sampling: dict[str, Any], count: int | None = None,
             first_index: int = 0) -> list[tuple[list[str], str]]:
    return [wordgen.generate(words, sampling["max_tokens"], sampling["temperature"],
                             sampling["seed"], first_index + i)
            for i in range(count or sampling["n"])]


async def _pause(delay: float) -> None:
    if delay > 0:
        await asyncio.sleep(delay)


# -- native mode ---------------------------------------------------------------------------


async def _native(data: dict[str, Any], delay: float) -> AsyncIterator[dict[str, Any]]:
    text, words = _native_prompt(data)
    sampling = _sampling(data.get("sampling_params"), default_max=100)
    stream = bool(data.get("stream", False))
    choices = [tokens for tokens, _ in _choices(words, sampling)]
    n_input = wordgen.count_tokens(text)
    sizes = BatchSize(int(data.get("max_batch_size") or DEFAULT_BATCH_SIZE),
                      int(data.get("min_batch_size") or DEFAULT_MIN_BATCH_SIZE),
                      float(data.get("batch_size_growth_factor") or DEFAULT_GROWTH))

    def fresh() -> dict[str, Any]:
        return {"choices": [{"tokens": []} for _ in choices]}

    batch, in_batch, total = fresh(), 0, 0
    for step in range(max(len(tokens) for tokens in choices)):
        await _pause(delay)
        for index, tokens in enumerate(choices):
            if step >= len(tokens):
                continue
            total += 1
            if stream:
                batch["choices"][index]["tokens"].append(tokens[step])
                in_batch += 1
                if in_batch >= sizes.current:
                    batch["usage"] = {"input": n_input, "output": total}
                    yield batch
                    batch, in_batch = fresh(), 0
                    sizes.update()
    if not stream:
        for index, tokens in enumerate(choices):
            batch["choices"][index]["tokens"] = ["".join(tokens)]
        in_batch += 1
    if in_batch > 0:
        batch["usage"] = {"input": n_input, "output": total}
        yield batch


async def _native_openai_format(data: dict[str, Any], delay: float
                                ) -> AsyncIterator[dict[str, Any]]:
    """``use_openai_format``: the native input answered in OpenAI's chat shapes."""
    _native_prompt(data)  # checks that there is a prompt
    llm_input = data.get("messages", data.get("prompt"))
    messages = llm_input if isinstance(llm_input, list) else \
        [{"role": "user", "content": llm_input}]
    body = {**(data.get("sampling_params") or {}), "messages": messages,
            "stream": bool(data.get("stream"))}
    body.setdefault("max_tokens", 100)
    reply = Reply("/v1/chat/completions", body)
    if not reply.stream:
        async for done in reply.final(delay):
            yield done
        return
    sizes = BatchSize(DEFAULT_BATCH_SIZE, DEFAULT_MIN_BATCH_SIZE, DEFAULT_GROWTH)
    pending: list[str] = []
    async for event in reply.events(delay):
        content = event["choices"][0]["delta"].get("content") if event["choices"] else None
        finishing = bool(event["choices"]) and event["choices"][0]["finish_reason"]
        if content:
            pending.append(content)
        if len(pending) >= sizes.current or finishing:
            chunk = reply.chunk(0, {"content": "".join(pending)} if pending else {},
                                event["choices"][0]["finish_reason"] if finishing else None)
            yield chunk
            pending = []
            sizes.update()


# -- OpenAI mode ---------------------------------------------------------------------------


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
        sampling = _sampling({"max_tokens": limit, "temperature": body.get("temperature", 1.0),
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
            self.choices += _choices(words, sampling, first_index=k * sampling["n"])
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
            await _pause(delay)
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
            await _pause(delay)
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


async def _openai(data: dict[str, Any], delay: float, split: str) -> AsyncIterator[Any]:
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


if __name__ == "__main__":  # as a runpod-python worker: python -m <this module>
    import runpod

    runpod.serverless.start({"handler": handler, **WORKER_CONFIG})
