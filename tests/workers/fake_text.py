"""Deterministic fake model output shared by the stand-in workers: tokens, OpenAI objects
and OpenAI server-sent events, shaped as vLLM's OpenAI server writes them."""

from __future__ import annotations

import json

STORY = ("The lighthouse keeper counted the waves each night and wrote their names in a "
         "small blue book that nobody else was allowed to read")
WORDS = STORY.split(" ")
CREATED = 1_700_000_000


def tokens(count: int) -> list[str]:
    """``count`` tokens: ``"The"``, ``" lighthouse"``, ``" keeper"``, ..."""
    return [("" if i == 0 else " ") + WORDS[i % len(WORDS)] for i in range(count)]


def prompt_tokens(job_input: dict) -> int:
    prompt = job_input.get("prompt")
    if prompt is None:
        messages = job_input.get("messages") or []
        prompt = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    return max(1, len(str(prompt).split()))


def chunk_event(kind: str, index: int, piece: str | None, finish: str | None) -> dict:
    """One ``chat.completion.chunk`` (or streamed ``text_completion``) object."""
    if kind == "chat":
        delta = {"content": piece} if piece is not None else {"content": ""}
        if index == 0 and piece == "":
            delta = {"role": "assistant", "content": ""}
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": piece or "", "logprobs": None, "finish_reason": finish}
        obj = "text_completion"
    return {"id": "cmpl-standin", "object": obj, "created": CREATED, "model": "stand-in",
            "choices": [choice]}


def events(kind: str, count: int, prompt_count: int, include_usage: bool) -> list[str]:
    """Every ``data: ...\\n\\n`` event of a streamed reply, ``data: [DONE]`` last."""
    objects = [chunk_event(kind, 0, "", None)] if kind == "chat" else []
    objects += [chunk_event(kind, 1, t, None) for t in tokens(count)]
    objects.append(chunk_event(kind, 1, None, "length"))
    if include_usage:
        objects.append({"id": "cmpl-standin", "object": objects[-1]["object"],
                        "created": CREATED, "model": "stand-in", "choices": [],
                        "usage": {"prompt_tokens": prompt_count, "completion_tokens": count,
                                  "total_tokens": prompt_count + count}})
    return [f"data: {json.dumps(o)}\n\n" for o in objects] + ["data: [DONE]\n\n"]


def completion(kind: str, count: int, prompt_count: int) -> dict:
    """A whole ``chat.completion`` or ``text_completion`` object."""
    text = "".join(tokens(count))
    if kind == "chat":
        choice = {"index": 0, "message": {"role": "assistant", "content": text},
                  "logprobs": None, "finish_reason": "length"}
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "length"}
        obj = "text_completion"
    return {"id": "cmpl-standin", "object": obj, "created": CREATED, "model": "stand-in",
            "choices": [choice], "usage": {"prompt_tokens": prompt_count,
                                           "completion_tokens": count,
                                           "total_tokens": prompt_count + count}}


def vllm_error(message: str, code: int = 400) -> dict:
    """vLLM's ErrorResponse: ``{"object": "error", "message", "type", "param", "code"}``."""
    return {"object": "error", "message": message, "type": "BadRequestError", "param": None,
            "code": code}
