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

from collections.abc import AsyncIterator
from typing import Any

from rp_jupyter.local.examples import wordgen
from rp_jupyter.local.examples.llm_openai import DONE, Reply, models, openai_mode, sse
from rp_jupyter.local.examples.llm_params import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_GROWTH,
    DEFAULT_MIN_BATCH_SIZE,
    MAX_CONCURRENCY,
    MODEL,
    BatchSize,
    RequestError,
    knobs,
    native_prompt,
    pause,
    sample_choices,
    sampling_params,
)

__all__ = ["DONE", "MODEL", "WORKER_CONFIG", "Reply", "RequestError", "handler", "models",
           "sse"]

#: what the worker passes to runpod.serverless.start besides its handler
WORKER_CONFIG: dict[str, Any] = {
    "return_aggregate_stream": True,
    "concurrency_modifier": lambda current: MAX_CONCURRENCY,
}


async def handler(job: dict[str, Any]) -> AsyncIterator[Any]:
    """The worker's handler: an async generator, as in worker-vllm."""
    data = dict(job.get("input") or {})
    openai = bool(data.get("openai_route"))
    try:
        delay, split = knobs(data)
        if openai:
            source = openai_mode(data, delay, split)
        elif data.get("use_openai_format"):
            source = _native_openai_format(data, delay)
        else:
            source = _native(data, delay)
        async for item in source:
            yield item
    except RequestError as err:
        yield err.body() if openai else {"error": str(err)}


# -- native mode ---------------------------------------------------------------------------


async def _native(data: dict[str, Any], delay: float) -> AsyncIterator[dict[str, Any]]:
    text, words = native_prompt(data)
    sampling = sampling_params(data.get("sampling_params"), default_max=100)
    stream = bool(data.get("stream", False))
    choices = [tokens for tokens, _ in sample_choices(words, sampling)]
    n_input = wordgen.count_tokens(text)
    sizes = BatchSize(int(data.get("max_batch_size") or DEFAULT_BATCH_SIZE),
                      int(data.get("min_batch_size") or DEFAULT_MIN_BATCH_SIZE),
                      float(data.get("batch_size_growth_factor") or DEFAULT_GROWTH))

    def fresh() -> dict[str, Any]:
        return {"choices": [{"tokens": []} for _ in choices]}

    batch, in_batch, total = fresh(), 0, 0
    for step in range(max(len(tokens) for tokens in choices)):
        await pause(delay)
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
    native_prompt(data)  # checks that there is a prompt
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


if __name__ == "__main__":  # as a runpod-python worker: python -m <this module>
    import runpod

    runpod.serverless.start({"handler": handler, **WORKER_CONFIG})
