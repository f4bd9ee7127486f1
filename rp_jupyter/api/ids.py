"""Job and endpoint ids are checked before any request (rules in :mod:`rp_jupyter.wire_rules`).

An id becomes one segment of a URL path, so one that would leave its route (``../health``,
``a/b``, ``..``) is refused here with a clear error; everything else is sent
percent-encoded by the client.
"""

from __future__ import annotations

from typing import Any

from rp_jupyter.api.errors import InvalidRequestError
from rp_jupyter.wire_rules import id_problem

__all__ = ["check_endpoint_id", "check_job_id"]


def check_job_id(job_id: Any) -> str:
    """``job_id`` itself, or :class:`InvalidRequestError` saying why it cannot be one.

    Example::

        >>> check_job_id("6c1f0f4e-u1")
        '6c1f0f4e-u1'
    """
    return _checked("job", job_id, "use the id /run answered (job.id), e.g. '6c1f0f4e-...-u1'")


def check_endpoint_id(endpoint_id: Any) -> str:
    """``endpoint_id`` without surrounding spaces, or :class:`InvalidRequestError`."""
    if isinstance(endpoint_id, str):
        endpoint_id = endpoint_id.strip()
    return _checked("endpoint", endpoint_id,
                    "copy the id from the Runpod console, e.g. Endpoint('abc123xyz')")


def _checked(kind: str, value: Any, hint: str) -> str:
    problem = id_problem(value)
    if problem is not None:
        raise InvalidRequestError(f"invalid {kind} id {_shown(value)}: it {problem}; "
                                  "nothing was sent", hint=hint)
    return value


def _shown(value: Any) -> str:
    if not isinstance(value, str):
        return f"({type(value).__name__})"
    text = ascii(value) if len(value) <= 60 else ascii(value[:57]) + "…"
    return text
