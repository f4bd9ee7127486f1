"""The exception tree.  Every error speaks to the user: what happened and what to do.

::

    RunpodError
    ├── InvalidRequestError        bad input caught before anything is sent (also a ValueError)
    │   └── BudgetExceededError    the job or sweep would pass the budget you set
    ├── APIStatusError             the server answered with an HTTP error
    │   ├── BadRequestError        400 (and 413: the body is too large)
    │   ├── AuthenticationError    401 / 403, or no key for the hosted API
    │   ├── NotFoundError          404
    │   │   ├── EndpointNotFoundError
    │   │   ├── JobNotFoundError   unknown job, or its result has expired
    │   │   └── RouteNotFoundError the endpoint has no such route (no OpenAI-compatible one)
    │   ├── RateLimitError         429 (after retries)
    │   └── ServerError            5xx (after retries)
    ├── APIConnectionError         the server could not be reached
    │   └── APITimeoutError        no answer in time
    ├── WaitTimeoutError           a local wait (``job.result(timeout=...)``) ran out
    └── JobError                   the job itself ended badly
        ├── JobFailedError         FAILED (handler error, execution timeout)
        ├── JobCancelledError      CANCELLED
        ├── JobTimedOutError       TIMED_OUT
        ├── JobExpiredError        the server forgot the job before its result was fetched
        └── JobLostError           the local endpoint running it stopped before it finished

    StreamGapWarning               a job's stream may be missing chunks (a warning, not an error)
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "EndpointNotFoundError",
    "InvalidRequestError",
    "JobCancelledError",
    "JobError",
    "JobExpiredError",
    "JobFailedError",
    "JobLostError",
    "JobNotFoundError",
    "JobTimedOutError",
    "NotFoundError",
    "RateLimitError",
    "RouteNotFoundError",
    "RunpodError",
    "ServerError",
    "StreamGapWarning",
    "WaitTimeoutError",
]


class RunpodError(Exception):
    """Base class of every rp_jupyter error.  ``hint`` says what to do about it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\nHint: {self.hint}" if self.hint else self.message


class InvalidRequestError(RunpodError, ValueError):
    """The request is not valid; nothing was sent."""


class BudgetExceededError(InvalidRequestError):
    """The job (or sweep) would pass the budget set with ``%runpod budget`` /
    ``rp_jupyter.budget``; nothing was sent."""


class APIStatusError(RunpodError):
    """The server answered with an HTTP error status.

    ``maybe_sent`` is True when the server may have carried the request out anyway (a
    gateway's 502 after forwarding, a 500 or 504): a ``/run`` may have been accepted.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None,
        operation: str,
        body: Any = None,
        hint: str | None = None,
        maybe_sent: bool = False,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.operation = operation
        self.body = body
        self.maybe_sent = maybe_sent


class BadRequestError(APIStatusError):
    """400 (or 413, a body too large): the server rejected the request."""


class AuthenticationError(APIStatusError):
    """401 / 403: the API key is missing or not accepted."""


class NotFoundError(APIStatusError):
    """404."""


class EndpointNotFoundError(NotFoundError):
    """404 for the endpoint id."""


class JobNotFoundError(NotFoundError):
    """404 for a job: never existed here, or its result has passed its retention window."""


class RouteNotFoundError(NotFoundError):
    """404 for a route the endpoint does not serve: a server without the OpenAI-compatible
    route (``/openai/v1/...``).  ``Endpoint.chat`` then sends a ``/run`` job instead."""


class RateLimitError(APIStatusError):
    """429, still there after the retries."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx, still there after the retries."""


class APIConnectionError(RunpodError):
    """The server could not be reached (refused, reset or dropped connection).

    ``maybe_sent`` is True when the request may have reached the server before the
    connection failed (so a ``/run`` may have been accepted).
    """

    def __init__(
        self, message: str, *, operation: str, maybe_sent: bool = False, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.operation = operation
        self.maybe_sent = maybe_sent


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class WaitTimeoutError(RunpodError, TimeoutError):
    """A local wait ran out; the job itself goes on."""


class JobError(RunpodError):
    """The job ended in a state other than COMPLETED."""

    def __init__(self, message: str, *, job_id: str, status: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.job_id = job_id
        self.status = status


class JobFailedError(JobError):
    """FAILED.  ``error`` is the server's message; a handler exception is split into
    ``error_type``, ``error_message`` and ``details`` (the traceback)."""

    def __init__(self, job_id: str, error: Any, *, output: Any = None) -> None:
        parsed = parse_job_error(error)
        self.error = error
        self.error_type = parsed["type"]
        self.error_message = parsed["message"]
        self.details = parsed["details"]
        self.output = output
        summary = (
            f"{self.error_type}: {self.error_message}" if self.error_type else self.error_message
        )
        super().__init__(f"job {job_id} failed: {summary}", job_id=job_id, status="FAILED")


class JobCancelledError(JobError):
    """CANCELLED."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} was cancelled", job_id=job_id, status="CANCELLED")


class JobTimedOutError(JobError):
    """TIMED_OUT: the job's ttl ran out before a worker finished it."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"job {job_id} timed out before it ran (its ttl ran out)",
            job_id=job_id,
            status="TIMED_OUT",
            hint="retry it with job.retry(), or submit it with a longer ttl",
        )


class JobExpiredError(JobError):
    """The server no longer knows the job and its result never reached the journal."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"job {job_id} is gone from the server and its result was never fetched",
            job_id=job_id,
            status="EXPIRED",
            hint="results are kept 30 min after /run and 1 min after /runsync (or the job's ttl)",
        )


class JobLostError(JobError):
    """LOST: the local endpoint running the job stopped (its port refuses connections), so
    the job can never finish and its result will never come."""

    def __init__(self, job_id: str, base_url: str) -> None:
        super().__init__(
            f"job {job_id} was lost: the local endpoint at {base_url} stopped before the job "
            "finished",
            job_id=job_id,
            status="LOST",
            hint="start the endpoint again (%runpod local HANDLER, or rp-jupyter serve) and "
            "run the job again",
        )


class StreamGapWarning(UserWarning):
    """A job's stream may be missing chunks.

    ``/stream`` hands each chunk out once; when an answer is lost after the server sent it,
    its chunks are gone.  The job then says so (``job.stream_complete`` is False) instead
    of presenting the rest as the whole stream.  A worker with ``return_aggregate_stream``
    sends every chunk again in its final output, which fills the gap.
    """

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


def parse_job_error(error: Any) -> dict[str, Any]:
    """Split a job's ``error`` field into type, message and details.

    Runpod's worker SDK sends a handler exception as a JSON-encoded string
    (``{"error_type": "<class 'ValueError'>", "error_message": ..., "error_traceback": ...}``);
    generator errors and ``{"error": ...}`` returns arrive as plain strings.
    """
    if isinstance(error, str):
        text = error.strip()
        if text.startswith("{"):
            try:
                error = json.loads(text)
            except ValueError:
                pass
    if isinstance(error, dict):
        raw_type = str(error.get("error_type") or "")
        type_name = raw_type.removeprefix("<class '").removesuffix("'>").rsplit(".", 1)[-1]
        message = error.get("error_message", error.get("message", error.get("error")))
        details = error.get("error_traceback") or error.get("traceback")
        if message is None:
            message = json.dumps(error)
        return {"type": type_name or None, "message": str(message), "details": details}
    if isinstance(error, str):
        head, sep, tail = error.partition("\ntraceback:")
        return {"type": None, "message": head.strip(), "details": tail.strip() if sep else None}
    return {
        "type": None,
        "message": "unknown error" if error is None else str(error),
        "details": None,
    }
