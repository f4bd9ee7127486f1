"""The ``llm`` example's input: the model's name, checked sampling parameters, the chat
template, the local knobs (``token_delay``, ``sse_split``) and vLLM's growing batches."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from rp_jupyter.env_names import (
    LLM_TOKEN_DELAY_ENV,
    MAX_CONCURRENCY_ENV,
    MODEL_NAME_ENV,
    RAW_OPENAI_OUTPUT_ENV,
    SERVED_MODEL_NAME_ENV,
)
from rp_jupyter.local.examples import wordgen

MODEL = (os.environ.get(SERVED_MODEL_NAME_ENV) or os.environ.get(MODEL_NAME_ENV)
         or "rp-jupyter/fake-llm")
MAX_CONCURRENCY = int(os.environ.get(MAX_CONCURRENCY_ENV, "30"))
MAX_MODEL_LEN = 8192
DEFAULT_BATCH_SIZE, DEFAULT_MIN_BATCH_SIZE, DEFAULT_GROWTH = 50, 1, 3
DEFAULT_TOKEN_DELAY = 0.02
CREATED = int(time.time())
SPLITS = ("events", "bytes", "objects")
SAMPLING_KEYS = frozenset({
    "n", "best_of", "presence_penalty", "frequency_penalty", "repetition_penalty",
    "temperature", "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos",
    "max_tokens", "min_tokens", "logprobs", "prompt_logprobs", "skip_special_tokens",
    "spaces_between_special_tokens", "include_stop_str_in_output"})


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


def knobs(data: dict[str, Any]) -> tuple[float, str]:
    body = data.get("openai_input") if isinstance(data.get("openai_input"), dict) else {}
    if body:
        body = data["openai_input"] = dict(body)
    raw_delay = data.pop("token_delay", body.pop("token_delay", None))
    default_split = "events" if os.environ.get(RAW_OPENAI_OUTPUT_ENV, "1").lower() not in (
        "0", "false") else "objects"
    split = data.pop("sse_split", body.pop("sse_split", default_split))
    if raw_delay is None:
        raw_delay = os.environ.get(LLM_TOKEN_DELAY_ENV, DEFAULT_TOKEN_DELAY)
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


def native_prompt(data: dict[str, Any]) -> tuple[str, str]:
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


def number(value: Any, name: str, low: float, high: float, *, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise RequestError(f"{name} must be {kind} from {low:g} to {high:g}, got {value!r}",
                           param=name)
    return value


def sampling_params(params: Any, default_max: int | None) -> dict[str, Any]:
    """Checked sampling parameters: max_tokens, temperature, seed, n."""
    params = dict(params or {})
    unknown = set(params) - SAMPLING_KEYS
    if unknown:
        raise RequestError(f"unknown sampling parameter(s): {', '.join(sorted(unknown))}")
    max_tokens = params.get("max_tokens", default_max)
    if max_tokens is not None:
        number(max_tokens, "max_tokens", 1, MAX_MODEL_LEN, integer=True)
    temperature = number(params.get("temperature", 1.0), "temperature", 0, 2)
    seed = params.get("seed")
    if seed is not None:
        number(seed, "seed", -(2 ** 63), 2 ** 63, integer=True)
    n = number(params.get("n", 1), "n", 1, 8, integer=True)
    return {"max_tokens": max_tokens, "temperature": temperature, "seed": seed or 0, "n": n}


def sample_choices(words: str, sampling: dict[str, Any], count: int | None = None,
             first_index: int = 0) -> list[tuple[list[str], str]]:
    return [wordgen.generate(words, sampling["max_tokens"], sampling["temperature"],
                             sampling["seed"], first_index + i)
            for i in range(count or sampling["n"])]


async def pause(delay: float) -> None:
    if delay > 0:
        await asyncio.sleep(delay)
