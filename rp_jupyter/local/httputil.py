"""Small HTTP pieces shared by the routes: reading bodies, answers, auth, dropping.

Answers are Starlette responses; this module is only imported once a server starts.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.responses import Response

from rp_jupyter.wire_rules import MiB

#: what Starlette's JSONResponse writes, with one encoder made once
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class ClientGone(Exception):
    """The client hung up before its request was read."""


class Dropped(Exception):
    """Raised to make the server close a connection mid-response (fallback drop)."""


class _DroppedFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, Dropped)


logging.getLogger("uvicorn.error").addFilter(_DroppedFilter())


def json_body(data: Any) -> bytes:
    """An answer's JSON body, as every route writes it."""
    return _JSON.encode(data).encode()


def answer(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json_body(data), status_code=status, headers=headers,
                    media_type="application/json")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The body of non-400 errors: ``{"error": "..."}``."""
    return answer({"error": message}, status, headers)


def bad_request(detail: str) -> Response:
    """The hosted API's 400 body (RFC 7807-like)."""
    return answer({"status": 400, "title": "Bad Request", "detail": detail}, 400)


def size_text(limit: int) -> str:
    return f"{limit // MiB}MiB" if limit % MiB == 0 else f"{limit} bytes"


async def read_body(receive: Any, limit: int | None) -> bytes | None:
    """The whole request body, or ``None`` once it passes ``limit``: reading stops there
    (after the answer the server drops whatever the client still sends), so a body that
    never ends cannot hold the request up.  ``read_body(receive, 0)`` ignores a body."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body = message.get("body", b"")
        size += len(body)
        if limit is not None and size > limit:
            return None
        if body:
            parts.append(body)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def query(scope: dict[str, Any]) -> dict[str, str]:
    """The query string as a dict (the last value wins)."""
    return parse_query(scope.get("query_string", b""))


def parse_query(raw: bytes) -> dict[str, str]:
    """A raw query string as a dict (the last value wins)."""
    if not raw:
        return {}
    return {k: v[-1] for k, v in parse_qs(raw.decode("latin-1"),
                                          keep_blank_values=True).items()}


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def auth_problem(scope: dict[str, Any], keys: list[str]) -> str | None:
    """Why the request is not authorised, or ``None`` if it is (or no key is set).

    Accepts ``Authorization: Bearer KEY`` and ``Authorization: KEY``.
    """
    if not keys:
        return None
    return key_problem(header(scope, b"authorization"), keys)


def key_problem(raw: str | bytes | None, keys: list[str]) -> str | None:
    """:func:`auth_problem` for the ``Authorization`` header's value (``None``: absent)."""
    if not keys:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    if raw is None or not raw.strip():
        return "missing API key: send the header 'Authorization: Bearer <key>'"
    given = raw.strip()
    if given[:7].lower() == "bearer ":
        given = given[7:].strip()
    for key in keys:
        if hmac.compare_digest(given.encode(), key.encode()):
            return None
    return "invalid API key"


async def drop_connection(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Close the client's connection without an answer.

    Closes the server transport when it is reachable (uvicorn); otherwise starts a
    response and aborts it, which the client also sees as a broken connection.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(transport, "close"):
        transport.close()
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", b"1024")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise Dropped("connection dropped by fault injection")
