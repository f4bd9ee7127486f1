"""The async HTTP client for one Runpod endpoint.

One :class:`Connection` (an ``httpx.AsyncClient``) per base URL and key, shared by every
endpoint id on it; one :class:`EndpointClient` per endpoint id, with one method per
operation of the job API.  Limits, retries and error mapping happen here, once.

Ids are checked and percent-encoded before they go into a path; every answer and error
passes through the endpoint's :class:`~rp_jupyter.api.redact.Redactor`, so a secret a
server echoes back never travels further.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any

import httpx

from rp_jupyter._version import __version__
from rp_jupyter.api.client_policy import (
    CLIENT_RATE_LIMITS,
    CONNECT_TIMEOUT,
    HELD_POOL_SHARDS,
    HELD_POOL_SIZE,
    JOB_OPERATIONS,
    KEEPALIVE_EXPIRY,
    LIMIT_GROUP,
    LONG_POLL_MARGIN,
    POOL_SHARDS,
    POOL_SIZE,
    READ_TIMEOUT,
    SUBMIT_OPERATIONS,
)
from rp_jupyter.api.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    EndpointNotFoundError,
    JobNotFoundError,
    RateLimitError,
    ServerError,
)
from rp_jupyter.api.ids import check_endpoint_id, check_job_id
from rp_jupyter.api.limiter import OperationLimiter
from rp_jupyter.api.models import Health, StatusDocument, StreamBatch
from rp_jupyter.api.pools import PoolSet
from rp_jupyter.api.redact import Redactor, Secret
from rp_jupyter.api.retry import RetryPolicy, parse_retry_after
from rp_jupyter.env_names import API_KEY_ENV
from rp_jupyter.wire_rules import (
    LONG_POLL_MAX_MS,
    RUNSYNC_DEFAULT_WAIT_MS,
    STREAM_DEFAULT_HOLD_MS,
    WAIT_MAX_MS,
    WAIT_MIN_MS,
    RateLimit,
    path_segment,
)

__all__ = ["Connection", "EndpointClient"]

log = logging.getLogger("rp_jupyter.api")

# A /run, /runsync or /retry whose answer was lost after it may have reached the server.
MAYBE_ACCEPTED = " (the request may have been accepted)"
MAYBE_ACCEPTED_HINT = (
    "the server may have accepted it and started the job, so it was not sent again (that "
    "could start a second job); before sending it again, check `%runpod jobs` (or "
    "rp_jupyter.jobs()) and the endpoint's queue (`%runpod health`, or the Runpod console)"
)


class Connection:
    """The connection pools for one base URL and API key, plus request counters.

    ``http`` carries short requests; ``held`` carries requests the server holds open
    (long-polls and ``/runsync``), so that those never delay the short ones.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Secret | None,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.retry = retry or RetryPolicy()
        headers = {"User-Agent": f"rp_jupyter/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key.reveal()}"
        tls: list[Any] = []  # one TLS context for every pool: making one costs ~40 ms

        def client(size: int) -> httpx.AsyncClient:
            if not tls:
                make_tls = getattr(httpx, "create_ssl_context", None)
                tls.append(make_tls() if make_tls else True)
            return httpx.AsyncClient(
                headers=headers,
                verify=tls[0],
                timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size,
                                    keepalive_expiry=KEEPALIVE_EXPIRY),
                transport=transport,
            )

        self.http = PoolSet(client, shards=POOL_SHARDS, size=POOL_SIZE)
        self.held = PoolSet(client, shards=HELD_POOL_SHARDS, size=HELD_POOL_SIZE)
        self.sent: Counter[str] = Counter()  # requests sent, by operation
        self.answered: Counter[int] = Counter()  # responses, by HTTP status
        self.retried = 0

    def endpoint(
        self, endpoint_id: str, rate_limits: dict[str, RateLimit] | None = None
    ) -> EndpointClient:
        return EndpointClient(self, endpoint_id, rate_limits)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.held.aclose()


class EndpointClient:
    """The job API of one endpoint: ``run``, ``runsync``, ``status``, ``status_sync``,
    ``stream``, ``cancel``, ``retry``, ``purge_queue``, ``health``.

    Example::

        client = Connection("http://127.0.0.1:8000/v2", None).endpoint("local")
        doc = await client.run(build_request({"prompt": "hi"}))
    """

    def __init__(
        self, connection: Connection, endpoint_id: str, rate_limits: dict[str, RateLimit] | None
    ) -> None:
        self.connection = connection
        self.endpoint_id = check_endpoint_id(endpoint_id)
        self.redactor = Redactor(connection.api_key)  # the key, and every request's secrets
        table = {**CLIENT_RATE_LIMITS, **(rate_limits or {})}
        self.limiters = {op: OperationLimiter(limit) for op, limit in table.items()}

    @property
    def url(self) -> str:
        return f"{self.connection.base_url}/{path_segment(self.endpoint_id)}"

    async def run(
        self, encoded_body: bytes, *, priority: float = 0.0, secrets: Iterable[Secret] = ()
    ) -> StatusDocument:
        """``/run``; ``secrets`` are the ones the body carries (masked in every answer)."""
        self.redactor.add(*secrets)
        doc = await self._request("run", "POST", "run", content=encoded_body, priority=priority)
        return StatusDocument.parse(doc)

    async def runsync(
        self, encoded_body: bytes, *, wait_ms: int | None = None, priority: float = 0.0,
        secrets: Iterable[Secret] = (),
    ) -> StatusDocument:
        self.redactor.add(*secrets)
        params = {}
        read = READ_TIMEOUT + RUNSYNC_DEFAULT_WAIT_MS / 1000  # the server's default wait
        if wait_ms is not None:
            wait_ms = max(WAIT_MIN_MS, min(WAIT_MAX_MS, int(wait_ms)))
            params["wait"] = wait_ms
            read = wait_ms / 1000 + LONG_POLL_MARGIN
        doc = await self._request(
            "runsync",
            "POST",
            "runsync",
            content=encoded_body,
            params=params,
            read_timeout=read,
            priority=priority,
            held=True,
        )
        return StatusDocument.parse(doc)

    async def status(
        self, job_id: str, *, ttl_ms: int | None = None, priority: float = 0.0
    ) -> StatusDocument:
        params = {"ttl": int(ttl_ms)} if ttl_ms is not None else {}
        doc = await self._request(
            "status", "GET", _job_path("status", job_id), params=params, job_id=job_id,
            priority=priority,
        )
        return StatusDocument.parse(doc, job_id)

    async def status_sync(
        self, job_id: str, *, wait_ms: int, priority: float = 0.0
    ) -> StatusDocument:
        wait_ms = max(0, min(LONG_POLL_MAX_MS, int(wait_ms)))
        doc = await self._request(
            "status-sync",
            "GET",
            _job_path("status-sync", job_id),
            params={"wait": wait_ms},
            read_timeout=wait_ms / 1000 + LONG_POLL_MARGIN,
            job_id=job_id,
            priority=priority,
            held=True,
        )
        return StatusDocument.parse(doc, job_id)

    async def stream(
        self, job_id: str, *, wait_ms: int | None = None, priority: float = 0.0
    ) -> StreamBatch:
        params: dict[str, Any] = {}
        # without ?wait= the server may still hold the call (the hosted API, up to 10 s)
        read = READ_TIMEOUT + STREAM_DEFAULT_HOLD_MS / 1000
        if wait_ms:
            wait_ms = min(LONG_POLL_MAX_MS, int(wait_ms))
            params["wait"] = wait_ms
            read = wait_ms / 1000 + LONG_POLL_MARGIN
        doc = await self._request(
            "stream",
            "GET",
            _job_path("stream", job_id),
            params=params,
            read_timeout=read,
            job_id=job_id,
            priority=priority,
            held=True,
        )
        return StreamBatch.parse(doc)

    async def cancel(self, job_id: str) -> StatusDocument:
        doc = await self._request("cancel", "POST", _job_path("cancel", job_id), job_id=job_id)
        return StatusDocument.parse(doc, job_id)

    async def retry(self, job_id: str) -> StatusDocument:
        doc = await self._request("retry", "POST", _job_path("retry", job_id), job_id=job_id)
        return StatusDocument.parse(doc, job_id)

    async def purge_queue(self) -> int:
        doc = await self._request("purge-queue", "POST", "purge-queue")
        return int(doc.get("removed") or 0)

    async def health(self) -> Health:
        return Health.parse(await self._request("health", "GET", "health"))

    # -- the one place a request is sent -------------------------------------------------

    async def _request(
        self,
        op: str,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        read_timeout: float | None = None,
        job_id: str | None = None,
        priority: float = 0.0,
        held: bool = False,
    ) -> Any:
        conn = self.connection
        pools = conn.held if held else conn.http
        policy = conn.retry
        limiter = self.limiters.get(LIMIT_GROUP.get(op, op))
        headers = {"Content-Type": "application/json"} if content is not None else None
        timeout = httpx.Timeout(read_timeout or READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        url = f"{self.url}/{path}"
        attempt = 0
        while True:
            attempt += 1
            if limiter is not None:
                await limiter.acquire(priority)
            try:
                conn.sent[op] += 1
                async with pools.client() as http:
                    response = await http.request(method, url, content=content, params=params,
                                                  headers=headers, timeout=timeout)
            except httpx.TransportError as exc:
                if attempt <= policy.max_retries and policy.should_retry_exception(op, exc):
                    conn.retried += 1
                    await asyncio.sleep(policy.delay(attempt))
                    continue
                raise self._transport_error(op, exc) from None
            finally:
                if limiter is not None:
                    limiter.release()
            conn.answered[response.status_code] += 1
            if response.is_success:
                return self._json(op, response)
            if attempt <= policy.max_retries and policy.should_retry_status(
                op, response.status_code
            ):
                conn.retried += 1
                await asyncio.sleep(policy.delay(attempt, parse_retry_after(response.headers)))
                continue
            raise self._status_error(op, response, job_id)

    def _json(self, op: str, response: httpx.Response) -> Any:
        try:
            return self.redactor.value(response.json())
        except (ValueError, RecursionError):
            raise ServerError(
                f"{op}: the server answered {response.status_code} with a body that is not JSON",
                status_code=response.status_code,
                operation=op,
                body=self._text(response),
            ) from None

    def _text(self, response: httpx.Response) -> str:
        return self.redactor.text(response.text[:500])

    def _transport_error(self, op: str, exc: httpx.TransportError) -> APIConnectionError:
        where = self.connection.base_url
        maybe_sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout,
                                          httpx.PoolTimeout))
        if isinstance(exc, httpx.TimeoutException):
            error_class: type[APIConnectionError] = APITimeoutError
            message = f"{op}: no answer from {where} in time ({type(exc).__name__})"
            hint = "the server is slow or unreachable; the job (if any) is still tracked"
        else:
            error_class = APIConnectionError
            detail = self.redactor.text(str(exc) or type(exc).__name__)
            message = f"{op}: cannot reach {where}: {detail}"
            hint = "check the base URL and that the endpoint is running"
        if maybe_sent and op in SUBMIT_OPERATIONS:
            message, hint = message + MAYBE_ACCEPTED, MAYBE_ACCEPTED_HINT
        return error_class(message, operation=op, maybe_sent=maybe_sent, hint=hint)

    def _status_error(
        self, op: str, response: httpx.Response, job_id: str | None
    ) -> APIStatusError:
        code = response.status_code
        try:
            body: Any = self.redactor.value(response.json())
        except (ValueError, RecursionError):
            body = self._text(response)
        detail = self.redactor.text(_detail(body))
        common = {"status_code": code, "operation": op, "body": body}
        suffix = f": {detail}" if detail else ""
        if code in (400, 413):
            return BadRequestError(f"{op}: the server rejected the request ({code}){suffix}",
                                   **common)
        if code in (401, 403):
            return AuthenticationError(
                f"{op}: the API key was not accepted ({code}){suffix}",
                **common,
                hint=f"set {API_KEY_ENV}, pass api_key=..., or run %runpod login",
            )
        if code == 404:
            if op in JOB_OPERATIONS and "endpoint" not in detail.lower():
                return JobNotFoundError(
                    f"{op}: job {job_id} is not known to {self.url} (404){suffix}",
                    **common,
                    hint="results are kept 30 min after /run and 1 min after /runsync; "
                    "rp_jupyter.result(job_id) reads the local journal",
                )
            return EndpointNotFoundError(
                f"{op}: endpoint {self.endpoint_id!r} not found at "
                f"{self.connection.base_url} (404)",
                **common,
                hint="check the endpoint id (and the base URL)",
            )
        if code == 429:
            return RateLimitError(
                f"{op}: rate limited (429) after {self.connection.retry.max_retries} retries",
                retry_after=parse_retry_after(response.headers),
                **common,
                hint="send fewer requests at once, or lower the client's rate_limits",
            )
        error_class = ServerError if code >= 500 else APIStatusError
        message = (f"{op}: server error ({code}){suffix}" if code >= 500
                   else f"{op}: unexpected HTTP {code}{suffix}")
        maybe_sent, hint = self.connection.retry.may_have_been_processed(code), None
        if maybe_sent and op in SUBMIT_OPERATIONS:
            message, hint = message + MAYBE_ACCEPTED, MAYBE_ACCEPTED_HINT
        return error_class(message, **common, hint=hint, maybe_sent=maybe_sent)


def _job_path(op: str, job_id: str) -> str:
    """``op/{job_id}``, the id checked (it may not leave the route) and percent-encoded."""
    return f"{op}/{path_segment(check_job_id(job_id))}"


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("detail", "error", "message", "title"):
            value = body.get(key)
            if isinstance(value, dict) and value.get("message"):  # OpenAI's error shape
                return str(value["message"])
            if value:
                return str(value)
        return ""
    return str(body or "")
