"""Building and checking a request for an endpoint's OpenAI-compatible route.

``/openai/v1/chat/completions`` takes ``messages``, ``/openai/v1/completions`` a ``prompt``;
both take ``model`` and the sampling parameters.  The request is checked before anything
is sent (what a message must hold, JSON the API can carry, the size limit), and journaled
as the job the platform makes of it: ``{"input": {"openai_route", "openai_input"}}``.
When an endpoint has no such route, :meth:`OpenAIRequest.native` is the same request in
the vLLM worker's own input (``messages`` or ``prompt``, ``sampling_params``, ``stream``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rp_jupyter.api.errors import InvalidRequestError
from rp_jupyter.api.json_values import canonical_json, check_json, encode
from rp_jupyter.api.redact import MASK, Secret
from rp_jupyter.api.request import JobRequest, build_request
from rp_jupyter.wire_rules import RUNSYNC_MAX_BYTES

__all__ = ["OPENAI_ROUTES", "OpenAIRequest", "build_openai_request", "rebuild_openai_request"]

#: request kind -> the route under ``/openai``
OPENAI_ROUTES = {"chat": "/v1/chat/completions", "completion": "/v1/completions"}
#: keys that say how the answer travels, not what is asked: left out of reuse keys
DELIVERY_KEYS = ("stream", "stream_options")
#: what each kind carries its question in
QUESTION_KEY = {"chat": "messages", "completion": "prompt"}
#: vLLM's SamplingParams, which the worker's native input takes as ``sampling_params``
SAMPLING_KEYS = frozenset({
    "n", "best_of", "presence_penalty", "frequency_penalty", "repetition_penalty",
    "temperature", "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos",
    "max_tokens", "min_tokens", "logprobs", "prompt_logprobs", "skip_special_tokens",
    "spaces_between_special_tokens", "include_stop_str_in_output"})
MESSAGE_HINT = ('messages are dicts such as {"role": "user", "content": "Hello"}; roles: '
                "system, user, assistant (or tool)")


@dataclass(frozen=True, repr=False)
class OpenAIRequest:
    """A checked request for the OpenAI route, encoded once.

    ``body`` is the request as built (secrets still :class:`Secret`); ``encoded`` is what
    is sent; ``redacted`` is the job input the platform makes of it, secrets masked (what
    the journal keeps); ``request_hash`` keys ``cache="use"`` (how the answer travels,
    streamed or not, is left out of it).
    """

    kind: str  # "chat" or "completion"
    body: dict[str, Any]
    encoded: bytes
    redacted: dict[str, Any]
    input_hash: str
    request_hash: str
    secrets: tuple[Secret, ...] = ()
    cache_scope: str | None = None

    @property
    def route(self) -> str:
        return OPENAI_ROUTES[self.kind]

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @property
    def messages(self) -> list[dict[str, Any]] | None:
        """The chat's messages as sent (secrets masked), ``None`` for a completion."""
        found = self.redacted["input"]["openai_input"].get("messages")
        return list(found) if isinstance(found, list) else None

    def native(self) -> JobRequest:
        """This request in the vLLM worker's native input, for ``/run`` on an endpoint
        without the OpenAI route: ``messages`` (or ``prompt``), ``sampling_params`` and
        ``stream: true``; other keys stay at the top of the input.  It reuses this
        request's hash, so ``cache="use"`` finds its answer as the same question."""
        native: dict[str, Any] = {}
        sampling: dict[str, Any] = {}
        for key, value in self.body.items():
            if key in ("model", *DELIVERY_KEYS):
                continue
            if key == "max_completion_tokens":
                sampling.setdefault("max_tokens", value)
            elif key in SAMPLING_KEYS:
                sampling[key] = value
            else:
                native[key] = value
        prompt = native.get("prompt")
        if self.kind == "completion" and not isinstance(prompt, (str, Secret)):
            raise InvalidRequestError(
                "this endpoint has no OpenAI route, and its native input takes one prompt, "
                "not a list of them", hint="send one prompt per request")
        if sampling:
            native["sampling_params"] = sampling
        native["stream"] = True
        request = build_request(native, cache_scope=self.cache_scope)
        return dataclasses.replace(request, request_hash=self.request_hash)

    def __repr__(self) -> str:
        shown = json.dumps(self.redacted["input"]["openai_input"], ensure_ascii=False)
        if len(shown) > 300:
            shown = shown[:300] + "…"
        return f"OpenAIRequest({self.route} {shown}, {len(self.encoded):,} bytes)"


def build_openai_request(
    kind: str,
    question: Any,
    *,
    model: str | None = None,
    stream: bool = True,
    params: Mapping[str, Any] | None = None,
    cache_scope: str | None = None,
) -> OpenAIRequest:
    """Check and encode a chat (``question``: the messages) or completion (the prompt).

    ``params`` are the rest of the body (``temperature``, ``max_tokens``, ``seed``, ...).
    A streamed request asks for the token counts too (``stream_options.include_usage``)
    unless ``params`` say otherwise.

    Example::

        >>> req = build_openai_request("chat", [{"role": "user", "content": "hi"}],
        ...                            params={"max_tokens": 5})
        >>> req.route, req.body["stream"]
        ('/v1/chat/completions', True)
    """
    if kind not in OPENAI_ROUTES:
        raise InvalidRequestError(f"kind must be chat or completion, not {kind!r}")
    if not isinstance(stream, bool):
        raise InvalidRequestError(f"stream must be True or False, not {stream!r}")
    if model is not None and not isinstance(model, str):
        raise InvalidRequestError(f"model must be a string, not {type(model).__name__}",
                                  hint="the model's name as the endpoint serves it")
    body: dict[str, Any] = {"model": model} if model else {}
    body[QUESTION_KEY[kind]] = (_check_messages(question) if kind == "chat"
                                else _check_prompt(question))
    for key, value in dict(params or {}).items():
        if not isinstance(key, str):
            raise InvalidRequestError(f"parameter names must be strings, not {key!r}")
        if key in ("messages", "prompt", "model", "stream"):
            raise InvalidRequestError(
                f"{key!r} is given as a parameter; pass it as the argument of that name",
                hint="e.g. endpoint.chat(messages, model=..., stream=False)")
        body[key] = value
    body["stream"] = stream
    if stream and "stream_options" not in body:
        body["stream_options"] = {"include_usage": True}
    secrets = check_json(body, "request")
    encoded = encode(body, reveal=True).encode()
    if len(encoded) > RUNSYNC_MAX_BYTES:
        raise InvalidRequestError(
            f"the request body is {len(encoded) / 2**20:.1f} MB; the OpenAI route accepts at "
            f"most {RUNSYNC_MAX_BYTES // 2**20} MB",
            hint="send large data by URL, or shorten the conversation")
    route = OPENAI_ROUTES[kind]
    sent = json.loads(encode(body, reveal=False))
    asked = {k: v for k, v in body.items() if k not in DELIVERY_KEYS}
    reuse: dict[str, Any] = {"input": {"openai_route": route, "openai_input": asked}}
    if cache_scope is not None:
        reuse["scope"] = cache_scope
    return OpenAIRequest(
        kind=kind, body=body, encoded=encoded,
        redacted={"input": {"openai_route": route, "openai_input": sent}},
        input_hash=_sha256(canonical_json({"openai_route": route, "openai_input": body})),
        request_hash=_sha256(canonical_json(reuse)),
        secrets=tuple(dict.fromkeys(secrets)), cache_scope=cache_scope,
    )


def rebuild_openai_request(job_input: Any, *, cache_scope: str | None = None) -> OpenAIRequest:
    """The request a journaled reply was sent with (its job input), to send it again."""
    kinds = {route: kind for kind, route in OPENAI_ROUTES.items()}
    route = job_input.get("openai_route") if isinstance(job_input, dict) else None
    body = job_input.get("openai_input") if isinstance(job_input, dict) else None
    if route not in kinds or not isinstance(body, dict):
        raise InvalidRequestError("this is not a request for the OpenAI route",
                                  hint="send it again with endpoint.chat(...)")
    if MASK in json.dumps(body):
        raise InvalidRequestError(
            "the request was sent with secrets, which are never kept, so it cannot be sent "
            "again from the journal", hint="send it again with endpoint.chat(...)")
    kind = kinds[route]
    params = dict(body)
    question = params.pop(QUESTION_KEY[kind], None)
    model = params.pop("model", None)
    stream = params.pop("stream", False) is True
    return build_openai_request(kind, question, model=model, stream=stream, params=params,
                                cache_scope=cache_scope)


def _check_messages(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, (str, Mapping)) or not isinstance(messages, Sequence):
        raise InvalidRequestError(
            f"messages must be a list of chat messages, not {type(messages).__name__}",
            hint=MESSAGE_HINT)
    if not messages:
        raise InvalidRequestError("messages is empty: a chat needs at least one message",
                                  hint=MESSAGE_HINT)
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise InvalidRequestError(
                f"messages[{index}] is a {type(message).__name__}, not a dict",
                hint=MESSAGE_HINT)
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise InvalidRequestError(f"messages[{index}] has no 'role'", hint=MESSAGE_HINT)
        content = message.get("content")
        if content is not None and not isinstance(content, (str, Secret, list)):
            raise InvalidRequestError(
                f"messages[{index}].content must be text or a list of parts, not "
                f"{type(content).__name__}", hint=MESSAGE_HINT)
        checked.append(dict(message))
    return checked


def _check_prompt(prompt: Any) -> Any:
    if isinstance(prompt, (str, Secret)):
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return list(prompt)
    raise InvalidRequestError(
        f"prompt must be a string (or a list of strings), not {type(prompt).__name__}",
        hint='e.g. endpoint.completion("Once upon a time", max_tokens=50)')


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
