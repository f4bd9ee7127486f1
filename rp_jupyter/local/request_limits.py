"""What the local server refuses before routing a request, and how.

- More headers than the server's limit: 431 (their total size is limited earlier, by the
  HTTP protocol itself: :mod:`.http_limits`).
- A declared ``Content-Length`` over the route's payload limit: 413 at once, before a byte
  of the body is read (uvicorn drops what the client still sends).
- With a key configured, an unknown endpoint id (or an unknown route of a keyed endpoint)
  answers exactly as a wrong key would (401), so ids cannot be probed without the key.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from rp_jupyter.local import protocol
from rp_jupyter.local.endpoint_settings import MAX_OTHER_BODY, EndpointSettings
from rp_jupyter.local.httputil import auth_problem, error, header, size_text
from rp_jupyter.local.server_endpoint import ServerEndpoint

__all__ = ["early_refusal", "keys_of", "too_large", "unknown_route"]

_DEFAULTS = EndpointSettings()


def early_refusal(scope: dict[str, Any], endpoints: dict[str, ServerEndpoint],
                  parts: list[str], max_headers: int) -> Response | None:
    """The 431 or 413 answer for a request that is over a limit, else ``None``."""
    count = len(scope.get("headers", ()))
    if count > max_headers:
        return error(431, f"request header fields too large: {count} headers, at most "
                     f"{max_headers}")
    declared = declared_length(scope)
    limit = body_limit(endpoints, parts)
    if declared is not None and declared > limit:
        return too_large(limit)
    return None


def declared_length(scope: dict[str, Any]) -> int | None:
    """The request's ``Content-Length``, if it declares one."""
    raw = header(scope, b"content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def body_limit(endpoints: dict[str, ServerEndpoint], parts: list[str]) -> int:
    """The largest body the route of ``parts`` (the path's segments) accepts.

    An unknown endpoint gets the default limits, so the answer does not tell it apart.
    """
    if len(parts) >= 3 and parts[0] == "v2":
        runtime = endpoints.get(parts[1])
        settings = runtime.settings if runtime is not None else _DEFAULTS
        if parts[2] == "run":
            return settings.max_run_body
        if parts[2] in ("runsync", "openai"):  # the OpenAI route reads up to /runsync's limit
            return settings.max_runsync_body
        if parts[2] in protocol.WORKER_ROUTES:
            return protocol.MAX_WORKER_BODY
    return MAX_OTHER_BODY


def too_large(limit: int) -> Response:
    """413, with the hosted API's wording of the problem."""
    return JSONResponse({"status": 413, "title": "Payload Too Large",
                         "detail": f"bad request: body: exceeded max body size of "
                                   f"{size_text(limit)}"}, status_code=413)


def keys_of(runtimes: Any) -> list[str]:
    return [runtime.settings.api_key for runtime in runtimes if runtime.settings.api_key]


def unknown_route(scope: dict[str, Any], keys: list[str], what: str) -> Response:
    """404 for ``what`` -- unless a key is set and the request does not carry one, when the
    answer is the wrong key's 401."""
    problem = auth_problem(scope, keys)
    return error(401, problem) if problem else error(404, what)
