"""Errors that workers answer with, made readable.

OpenAI-compatible servers answer ``{"error": {"message", "type", "code"}}`` or (vLLM)
``{"object": "error", "message", "type", "code"}``; runpod-python turns an ``{"error": ...}``
that a generator yields into ``str(value)``, a Python repr.  All of these read as one line:
``BadRequestError: max_tokens is too large (code 400)``.
"""

from __future__ import annotations

import ast
import json
from typing import Any

__all__ = ["error_message"]

NESTED_LIMIT = 3
PARSE_LIMIT = 100_000  # characters of an encoded error worth parsing


def error_message(value: Any, _depth: int = 0) -> str | None:
    """One readable line for an OpenAI-style error (also JSON- or repr-encoded), else ``None``.

    Example::

        >>> error_message({"error": {"message": "no such model", "type": "NotFoundError"}})
        'NotFoundError: no such model'
    """
    if _depth > NESTED_LIMIT:
        return None
    if isinstance(value, str):
        parsed = _mapping(value)
        return error_message(parsed, _depth + 1) if parsed is not None else None
    if not isinstance(value, dict):
        return None
    inner = value.get("error")
    if isinstance(inner, dict):
        return error_message(inner, _depth + 1) or _compact(inner)
    if isinstance(inner, str) and inner.strip() and len(value) <= 3:
        return error_message(inner, _depth + 1) or inner.strip()
    if "message" in value and (
        value.get("object") == "error" or "type" in value or "code" in value
    ):
        return _line(value, _depth)
    return None


def _line(value: dict[str, Any], depth: int) -> str:
    message = str(value.get("message") or "").strip() or "(no message)"
    message = _with_nested(message, depth)
    kind, code = value.get("type"), value.get("code")
    line = f"{kind}: {message}" if isinstance(kind, str) and kind else message
    if code not in (None, "") and str(code) not in line:
        line += f" (code {code})"
    return line


def _with_nested(message: str, depth: int) -> str:
    """``vLLM returned HTTP 400: {"object": "error", ...}`` -> the inner message."""
    start = message.find("{")
    if start <= 0:
        return message
    inner = error_message(message[start:], depth + 1)
    return f"{message[:start].rstrip()} {inner}" if inner else message


def _mapping(text: str) -> dict[str, Any] | None:
    text = text.strip()
    if len(text) > PARSE_LIMIT or not (text.startswith("{") and text.endswith("}")):
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def _compact(value: dict[str, Any]) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(value)
