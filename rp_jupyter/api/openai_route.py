"""The OpenAI-compatible route of one endpoint on the wire: ``{url}/openai/v1/...``.

A streamed request is read as server-sent events through httpx streaming, event by event
as the network delivers them (:class:`EventStream`); a plain one answers JSON.  The
``openai`` rate limit holds a slot for the whole request, a stream included.  A request is
sent again only when the server cannot have taken it (connection refused, 429, 503): it
starts a job.  Errors map to the usual tree; a 404 is told apart: a model the endpoint does
not serve, an endpoint that does not exist, or a server without the route
(:class:`RouteNotFoundError`, after which a chat falls back to ``/run``).

Example::

    route = OpenAIRoute(client)
    async with route.stream("/v1/chat/completions", body) as events:
        async for batch in events.batches():
            ...   # the chunk objects one network read brought
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx

from rp_jupyter.api.client_policy import CONNECT_TIMEOUT, OPENAI_READ_TIMEOUT
from rp_jupyter.api.errors import (
    APIStatusError,
    EndpointNotFoundError,
    NotFoundError,
    RouteNotFoundError,
    ServerError,
)
from rp_jupyter.api.retry import parse_retry_after
from rp_jupyter.formats.sse import DONE, SSEReader

if TYPE_CHECKING:
    from rp_jupyter.api.client import EndpointClient
    from rp_jupyter.api.redact import Secret

__all__ = ["OP", "EventStream", "OpenAIRoute"]

OP = "openai"
REQUEST_ID = "x-request-id"  # the job the platform ran for the request


class EventStream:
    """The events of one streamed answer, read as they arrive.

    ``request_id`` names the server's job (when the server says it); ``done`` turns True
    at ``data: [DONE]``; ``malformed`` counts events that were not JSON.
    """

    def __init__(self, response: httpx.Response, client: EndpointClient) -> None:
        self.response = response
        self.request_id: str | None = response.headers.get(REQUEST_ID)
        self.done = False
        self.malformed = 0
        self._client = client

    async def batches(self) -> AsyncIterator[list[Any]]:
        """Lists of decoded event values, one list per network read that completed any
        event, until ``[DONE]`` or the end of the body."""
        reader = SSEReader()
        redactor = self._client.redactor
        try:
            async for piece in self.response.aiter_bytes():
                values = self._decode(reader.feed(piece), redactor)
                if values:
                    yield values
                if self.done:
                    return
            values = self._decode(reader.close(), redactor)
            if values:
                yield values
        except httpx.TransportError as exc:
            raise self._client._transport_error(OP, exc) from None

    def _decode(self, events: list[str], redactor: Any) -> list[Any]:
        values = []
        for data in events:
            if self.done:
                break
            if data.strip() == DONE:
                self.done = True
                break
            try:
                values.append(json.loads(redactor.text(data)))
            except ValueError:
                self.malformed += 1
        return values


class OpenAIRoute:
    """See the module docstring.  Engine thread only."""

    def __init__(self, client: EndpointClient) -> None:
        self.client = client

    @property
    def url(self) -> str:
        return f"{self.client.url}/openai"

    @asynccontextmanager
    async def stream(self, route: str, encoded_body: bytes, *,
                     secrets: Iterable[Secret] = ()) -> AsyncIterator[EventStream]:
        """POST a request with ``stream: true``; inside the block, its events."""
        async with self._send("POST", route, encoded_body, secrets) as response:
            yield EventStream(response, self.client)

    async def answer(self, route: str, encoded_body: bytes, *,
                     secrets: Iterable[Secret] = ()) -> tuple[Any, str | None]:
        """POST a request without streaming: ``(the JSON answer, the server's job id)``."""
        async with self._send("POST", route, encoded_body, secrets) as response:
            return await self._json(response), response.headers.get(REQUEST_ID)

    async def models(self) -> Any:
        """``GET /openai/v1/models``: what the endpoint serves."""
        async with self._send("GET", "/v1/models", None, ()) as response:
            return await self._json(response)

    # -- the one place a request is sent ---------------------------------------------------

    @asynccontextmanager
    async def _send(self, method: str, route: str, content: bytes | None,
                    secrets: Iterable[Secret]) -> AsyncIterator[httpx.Response]:
        client = self.client
        client.redactor.add(*secrets)
        conn = client.connection
        limiter = client.limiters.get(OP)
        headers = {"Accept": "text/event-stream, application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        timeout = httpx.Timeout(OPENAI_READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        url = f"{self.url}{route}"
        attempt = 0
        while True:
            attempt += 1
            if limiter is not None:
                await limiter.acquire()
            try:
                async with conn.held.client() as http:
                    conn.sent[OP] += 1
                    request = http.build_request(method, url, content=content,
                                                 headers=headers, timeout=timeout)
                    try:
                        response = await http.send(request, stream=True)
                    except httpx.TransportError as exc:
                        if attempt <= conn.retry.max_retries and \
                                conn.retry.should_retry_exception(OP, exc):
                            conn.retried += 1
                            delay = conn.retry.delay(attempt)
                        else:
                            raise client._transport_error(OP, exc) from None
                    else:
                        try:
                            conn.answered[response.status_code] += 1
                            if response.is_success:
                                yield response
                                return
                            await response.aread()
                            if attempt > conn.retry.max_retries or \
                                    not conn.retry.should_retry_status(OP, response.status_code):
                                raise self._error(response)
                            conn.retried += 1
                            delay = conn.retry.delay(attempt,
                                                     parse_retry_after(response.headers))
                        finally:
                            await response.aclose()
            finally:
                if limiter is not None:
                    limiter.release()
            await asyncio.sleep(delay)

    async def _json(self, response: httpx.Response) -> Any:
        try:
            await response.aread()
            return self.client.redactor.value(response.json())
        except httpx.TransportError as exc:
            raise self.client._transport_error(OP, exc) from None
        except (ValueError, RecursionError):
            raise ServerError(
                f"{OP}: the server answered {response.status_code} with a body that is not "
                "JSON", status_code=response.status_code, operation=OP,
                body=self.client.redactor.text(response.text[:500])) from None

    def _error(self, response: httpx.Response) -> APIStatusError:
        """The error for a failed answer; a 404 says which thing was not found."""
        if response.status_code != 404:
            return self.client._status_error(OP, response, None)
        try:
            body: Any = self.client.redactor.value(response.json())
        except (ValueError, RecursionError):
            body = self.client.redactor.text(response.text[:500])
        error = body.get("error") if isinstance(body, dict) else None
        detail = error if isinstance(error, dict) else (body if isinstance(body, dict) else {})
        message = str(detail.get("message") or error or body or "")
        common = {"status_code": 404, "operation": OP, "body": body}
        if detail.get("param") == "model" or "model" in message.lower():
            return NotFoundError(f"{OP}: {message} (404)", **common,
                                 hint="name a model the endpoint serves (or none: its own)")
        if "endpoint" in message.lower() and "not found" in message.lower():
            return EndpointNotFoundError(
                f"{OP}: endpoint {self.client.endpoint_id!r} not found at "
                f"{self.client.connection.base_url} (404)", **common,
                hint="check the endpoint id (and the base URL)")
        return RouteNotFoundError(
            f"{OP}: {self.url} has no OpenAI-compatible route (404)", **common,
            hint="a chat is then sent as a /run job with the vLLM worker's native input")

