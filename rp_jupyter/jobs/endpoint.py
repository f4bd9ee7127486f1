"""``Endpoint``: the public entry point for one Runpod Serverless endpoint."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from rp_jupyter.api.client_policy import DEFAULT_BASE_URL
from rp_jupyter.api.errors import AuthenticationError, InvalidRequestError
from rp_jupyter.api.ids import check_endpoint_id, check_job_id
from rp_jupyter.api.models import Health
from rp_jupyter.api.openai_request import OpenAIRequest, build_openai_request
from rp_jupyter.api.openai_route import OpenAIRoute
from rp_jupyter.api.redact import Secret
from rp_jupyter.api.request import JobRequest, build_request, to_ms
from rp_jupyter.api.retry import RetryPolicy
from rp_jupyter.env_names import API_KEY_ENV, BASE_URL_ENV
from rp_jupyter.jobs.chat_reply import ChatReply
from rp_jupyter.jobs.engine import Engine
from rp_jupyter.jobs.interrupts import submit_interruptibly
from rp_jupyter.jobs.job import Job
from rp_jupyter.jobs.reply_requests import ReplyRequests
from rp_jupyter.jobs.runtime import EndpointRuntime
from rp_jupyter.jobs.runtime_registry import RuntimeRegistry
from rp_jupyter.wire_rules import WAIT_MAX_MS, WAIT_MIN_MS, RateLimit, path_segment

__all__ = ["CACHE_MODES", "Endpoint"]

CACHE_MODES = ("off", "use", "refresh")
Seconds = float | timedelta


class Endpoint:
    """A Runpod Serverless endpoint.

    The key comes from ``api_key`` or ``RUNPOD_API_KEY``; the base URL from ``base_url``,
    ``RUNPOD_ENDPOINT_BASE_URL`` or ``https://api.runpod.ai/v2``.  ``cache_scope`` says
    which code answers (a local endpoint's ``handle.cache_scope``): ``cache="use"`` then
    reuses only answers of that code, on any port of the same host.  Every call has an async
    twin named with an ``a`` prefix (``arun``, ``arun_sync``, ``achat``, ``acompletion``,
    ``ajob``, ``ahealth``, ``apurge_queue``); :class:`Job` follows the same scheme.

    Example::

        ep = Endpoint("my-endpoint")                      # key from RUNPOD_API_KEY
        job = ep.run({"prompt": "hello"}, execution_timeout=120)
        print(job.result())
        print(ep.run_sync({"prompt": "hi"}).output)
        print(ep.health().running)
        print(ep.chat([{"role": "user", "content": "Hello"}]).text)
    """

    def __init__(
        self,
        endpoint_id: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        rate_limits: Mapping[str, RateLimit | tuple[int, float, int | None]] | None = None,
        max_retries: int | None = None,
        cache_scope: str | None = None,
    ) -> None:
        self.endpoint_id = check_endpoint_id(endpoint_id)
        if cache_scope is not None and (not isinstance(cache_scope, str) or not cache_scope):
            raise InvalidRequestError("cache_scope must be a non-empty string",
                                      hint="pass a local endpoint's handle.cache_scope")
        self.cache_scope = cache_scope
        self.base_url = _check_base_url(base_url, "base_url") if base_url else (
            _check_base_url(os.environ[BASE_URL_ENV], BASE_URL_ENV)
            if os.environ.get(BASE_URL_ENV) else DEFAULT_BASE_URL)
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self._api_key = _check_key(key, "api_key" if api_key is not None else API_KEY_ENV)
        self._rate_limits = {op: RateLimit(*v) if isinstance(v, tuple) else v
                             for op, v in (rate_limits or {}).items()} or None
        self._retry = RetryPolicy() if max_retries is None else RetryPolicy(max_retries=max_retries)
        self._runtime: EndpointRuntime | None = None
        self._runtime_lock = threading.Lock()
        self._reply_requests: ReplyRequests | None = None

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    @property
    def url(self) -> str:
        return f"{self.base_url}/{path_segment(self.endpoint_id)}"

    def __repr__(self) -> str:
        key = "set" if self._api_key else "not set"
        return f"Endpoint({self.endpoint_id!r}, base_url={self.base_url!r}, api_key={key})"

    # -- jobs ------------------------------------------------------------------------------

    def run(
        self,
        input: Mapping[str, Any],
        *,
        webhook: str | None = None,
        execution_timeout: Seconds | None = None,
        ttl: Seconds | None = None,
        low_priority: bool | None = None,
        s3_config: Mapping[str, Any] | None = None,
        cache: str = "off",
    ) -> Job:
        """Submit a job (``/run``) and return its handle at once.

        ``execution_timeout`` and ``ttl`` are in seconds (5 s..7 days and 10 s..7 days).
        ``cache="use"`` answers an identical earlier request from the journal without any
        request; ``"refresh"`` runs it again.
        """
        request = self._request(input, webhook, execution_timeout, ttl, low_priority,
                                s3_config, sync=False)
        return submit_interruptibly(self._engine(), self.runtime.submit(
            request, mode="run", cache=_cache(cache)), endpoint_id=self.endpoint_id,
            route="/run")

    async def arun(self, input: Mapping[str, Any], **options: Any) -> Job:
        cache = _cache(options.pop("cache", "off"))
        request = self._request(input, sync=False, **_policy(options))
        return await self._engine().acall(self.runtime.submit(request, mode="run", cache=cache))

    def run_sync(
        self,
        input: Mapping[str, Any],
        *,
        webhook: str | None = None,
        execution_timeout: Seconds | None = None,
        ttl: Seconds | None = None,
        low_priority: bool | None = None,
        s3_config: Mapping[str, Any] | None = None,
        wait: Seconds | None = None,
        cache: str = "off",
    ) -> Job:
        """Submit through ``/runsync``; the job is final, or still followed if the server's
        wait (``wait`` seconds, 1..300, default the server's 90) ran out first.  Ctrl-C
        cancels the job (once the server has said its id) and raises
        :class:`~rp_jupyter.jobs.interrupts.SubmitInterrupted` saying so."""
        request = self._request(input, webhook, execution_timeout, ttl, low_priority,
                                s3_config, sync=True)
        return submit_interruptibly(self._engine(), self.runtime.submit(
            request, mode="runsync", wait_ms=_wait_ms(wait), cache=_cache(cache)),
            endpoint_id=self.endpoint_id, route="/runsync")

    async def arun_sync(self, input: Mapping[str, Any], **options: Any) -> Job:
        cache = _cache(options.pop("cache", "off"))
        wait_ms = _wait_ms(options.pop("wait", None))
        request = self._request(input, sync=True, **_policy(options))
        return await self._engine().acall(self.runtime.submit(
            request, mode="runsync", wait_ms=wait_ms, cache=cache))

    # -- language models: the OpenAI-compatible route --------------------------------------

    def chat(
        self, messages: list[dict[str, Any]], *, model: str | None = None,
        stream: bool = True, cache: str = "off", **params: Any,
    ) -> ChatReply:
        """Ask a chat model (``/openai/v1/chat/completions``); returns the reply at once,
        while it streams.  ``params`` are the request's other fields (``temperature``,
        ``max_tokens``, ``seed``, ...).  The reply is journaled like a job: it survives a
        kernel restart, and ``cache="use"`` answers the same question from the journal.
        An endpoint without the OpenAI route gets it as a ``/run`` job (``reply.note``).

        Example::

            reply = ep.chat([{"role": "user", "content": "Hello"}], max_tokens=50)
            print(reply.result()["choices"][0]["message"]["content"])   # or: reply.text
            print(reply.usage.output, reply.ttft, reply.tokens_per_second)
        """
        return self._ask(build_openai_request(
            "chat", messages, model=model, stream=stream, params=params,
            cache_scope=self.cache_scope), cache)

    async def achat(
        self, messages: list[dict[str, Any]], *, model: str | None = None,
        stream: bool = True, cache: str = "off", **params: Any,
    ) -> ChatReply:
        request = build_openai_request("chat", messages, model=model, stream=stream,
                                       params=params, cache_scope=self.cache_scope)
        return await self._engine().acall(self._replies().send(request, cache=_cache(cache)))

    def completion(
        self, prompt: str | list[str], *, model: str | None = None, stream: bool = True,
        cache: str = "off", **params: Any,
    ) -> ChatReply:
        """Complete a prompt (``/openai/v1/completions``); like :meth:`chat` otherwise.

        Example::

            print(ep.completion("Once upon a time", max_tokens=30).result()["choices"][0])
        """
        return self._ask(build_openai_request(
            "completion", prompt, model=model, stream=stream, params=params,
            cache_scope=self.cache_scope), cache)

    async def acompletion(
        self, prompt: str | list[str], *, model: str | None = None, stream: bool = True,
        cache: str = "off", **params: Any,
    ) -> ChatReply:
        request = build_openai_request("completion", prompt, model=model, stream=stream,
                                       params=params, cache_scope=self.cache_scope)
        return await self._engine().acall(self._replies().send(request, cache=_cache(cache)))

    def models(self) -> list[str]:
        """The models the endpoint's OpenAI route serves (``/openai/v1/models``)."""
        answer = self._engine().call(OpenAIRoute(self.runtime.client).models())
        data = answer.get("data") if isinstance(answer, dict) else None
        return [m["id"] for m in data or [] if isinstance(m, dict) and "id" in m]

    def _ask(self, request: OpenAIRequest, cache: str) -> ChatReply:
        return submit_interruptibly(self._engine(), self._replies().send(
            request, cache=_cache(cache)), endpoint_id=self.endpoint_id,
            route=f"/openai{request.route}")

    def _replies(self) -> ReplyRequests:
        with self._runtime_lock:
            replies = self._reply_requests
        if replies is None:
            replies = ReplyRequests(self.runtime, cache_scope=self.cache_scope)
            with self._runtime_lock:
                self._reply_requests = self._reply_requests or replies
                replies = self._reply_requests
        return replies

    # -- existing jobs -------------------------------------------------------------------

    def job(self, job_id: str) -> Job:
        """A handle on an existing job: read from the journal when it is final there (even
        after the server has forgotten it), else attached and followed to the end.  An id
        that could not be one (``../health``, ``a/b``) is refused before anything is sent."""
        check_job_id(job_id)
        return self._engine().call(self.runtime.attach(job_id))

    async def ajob(self, job_id: str) -> Job:
        check_job_id(job_id)
        return await self._engine().acall(self.runtime.attach(job_id))

    def health(self) -> Health:
        """Worker and job counters (``/health``)."""
        return self._engine().call(self.runtime.health())

    async def ahealth(self) -> Health:
        return await self._engine().acall(self.runtime.health())

    def purge_queue(self) -> int:
        """Remove every queued job (running ones go on); returns how many were removed."""
        return self._engine().call(self.runtime.purge_queue())

    async def apurge_queue(self) -> int:
        return await self._engine().acall(self.runtime.purge_queue())

    # -- plumbing ------------------------------------------------------------------------

    @property
    def runtime(self) -> EndpointRuntime:
        """The engine-side half of this endpoint (created on first use, by one thread)."""
        with self._runtime_lock:
            if self._runtime is None:
                self._check_key()
                registry = RuntimeRegistry.get()
                self._runtime = registry.runtime(self.base_url, self.endpoint_id, self._api_key,
                                                 rate_limits=self._rate_limits,
                                                 retry=self._retry)
                registry.engine.spawn_threadsafe(self._runtime.adopt_orphans())
            return self._runtime

    def _engine(self) -> Engine:
        return self.runtime.engine

    def _check_key(self) -> None:
        if self._api_key is None and self.base_url == DEFAULT_BASE_URL:
            raise AuthenticationError(
                "no Runpod API key: the hosted API needs one",
                status_code=None, operation="setup",
                hint=f"set {API_KEY_ENV}, pass Endpoint(..., api_key=...), or run %runpod login",
            )

    def _request(
        self, input: Any, webhook: str | None = None, execution_timeout: Seconds | None = None,
        ttl: Seconds | None = None, low_priority: bool | None = None,
        s3_config: Mapping[str, Any] | None = None, *, sync: bool,
    ) -> JobRequest:
        return build_request(input, webhook=webhook, execution_timeout=execution_timeout,
                             ttl=ttl, low_priority=low_priority, s3_config=s3_config, sync=sync,
                             cache_scope=self.cache_scope)


def _check_key(key: Any, source: str) -> Secret | None:
    """The key as a :class:`Secret`; one an HTTP header cannot carry is refused (unshown)."""
    if isinstance(key, Secret):
        key = key.reveal()
    if not key:
        return None
    if not isinstance(key, str) or not (key.isascii() and key.isprintable()):
        raise InvalidRequestError(
            f"{source}: the API key holds characters an HTTP header cannot carry (not shown)",
            hint="copy the key again from the Runpod console (Settings > API Keys)")
    return Secret(key.strip())


def _check_base_url(url: Any, source: str) -> str:
    """An http(s) URL with a host, without a trailing slash."""
    good = False
    if isinstance(url, str) and url.isprintable() and " " not in url.strip():
        try:
            parsed = urlsplit(url.strip())
            good = parsed.scheme in ("http", "https") and bool(parsed.hostname)
        except ValueError:
            pass
    if not good:
        shown = ascii(url)[:80] if isinstance(url, str) else type(url).__name__
        raise InvalidRequestError(
            f"{source} must be an http(s) URL such as https://api.runpod.ai/v2, got {shown}",
            hint="for a local endpoint: http://127.0.0.1:PORT/v2")
    return url.strip().rstrip("/")


def _cache(mode: str) -> str:
    if not isinstance(mode, str) or mode not in CACHE_MODES:
        raise InvalidRequestError(
            f"cache must be one of {', '.join(CACHE_MODES)}, not {ascii(mode)[:40]}",
            hint='cache="use" answers an identical earlier request from the journal')
    return mode


def _wait_ms(wait: Seconds | None) -> int | None:
    if wait is None:
        return None
    try:
        ms: int | None = to_ms(wait)
    except InvalidRequestError:
        ms = None
    if ms is None or not WAIT_MIN_MS <= ms <= WAIT_MAX_MS:
        got = f"{ms / 1000:g} s" if ms is not None else "a value that is not a finite number"
        raise InvalidRequestError(f"wait must be between {WAIT_MIN_MS // 1000} and "
                                  f"{WAIT_MAX_MS // 1000} seconds, got {got}",
                                  hint="e.g. wait=60; the job goes on after the wait")
    return ms


def _policy(options: dict[str, Any]) -> dict[str, Any]:
    allowed = {"webhook", "execution_timeout", "ttl", "low_priority", "s3_config"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"unexpected option(s): {', '.join(unknown)}")
    return options
