"""Check a job request body (``/run``, ``/runsync``) the way the hosted API does.

Problems are reported as :class:`BadRequest`, answered 400 with
``{"status": 400, "title": "Bad Request", "detail": ...}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rp_jupyter.local.endpoint_settings import EndpointSettings
from rp_jupyter.wire_rules import MAX_JSON_DEPTH, json_too_deep


class BadRequest(Exception):
    """A 400 answer; the message is the ``detail``."""


class TooLarge(Exception):
    """A 413 answer: the body passed ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


def load_json(raw: bytes) -> Any:
    """Parse a JSON body; nesting deeper than ``MAX_JSON_DEPTH`` is a :class:`BadRequest`
    (a 400, never a failure of the server)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        value = None
        deep = True
    else:
        deep = json_too_deep(value)
    if deep:
        raise BadRequest(f"bad request: body: JSON nested more than {MAX_JSON_DEPTH} levels "
                         "deep")
    return value


@dataclass
class ServerJobRequest:
    """A validated job request; times in seconds."""

    body: dict[str, Any]
    execution_timeout: float
    ttl: float | None
    low_priority: bool


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)


def _ms(policy: dict[str, Any], key: str, low: float, high: float) -> float | None:
    if key not in policy or policy[key] is None:
        return None
    value = policy[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"bad request: policy.{key} must be a number of milliseconds, "
                         f"got {_json_type(value)}")
    if not low * 1000 <= value <= high * 1000:
        raise BadRequest(f"bad request: policy.{key} must be between {round(low * 1000)} and "
                         f"{round(high * 1000)} ms, got {value}")
    return value / 1000.0


def parse_job_request(raw: bytes, settings: EndpointSettings) -> ServerJobRequest:
    """Parse and validate a job request body; raises :class:`BadRequest`."""
    try:
        body = load_json(raw)
    except (ValueError, UnicodeDecodeError) as err:
        if not raw.strip():
            raise BadRequest("bad request: body: empty body, expected a JSON object with "
                             "\"input\"") from None
        raise BadRequest(f"bad request: body: invalid JSON: {err}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"bad request: body: must be a JSON object, got {_json_type(body)}")
    if "input" not in body:
        raise BadRequest("bad request: body: missing required field \"input\"")
    if not isinstance(body["input"], dict):
        raise BadRequest("bad request: body: \"input\" must be a JSON object, got "
                         f"{_json_type(body['input'])}")
    webhook = body.get("webhook")
    if webhook is not None and (not isinstance(webhook, str)
                                or not webhook.startswith(("http://", "https://"))):
        raise BadRequest("bad request: body: \"webhook\" must be an http(s) URL")
    s3 = body.get("s3Config")
    if s3 is not None and not isinstance(s3, dict):
        raise BadRequest(f"bad request: body: \"s3Config\" must be a JSON object, got "
                         f"{_json_type(s3)}")
    policy = body.get("policy")
    if policy is None:
        policy = {}
    if not isinstance(policy, dict):
        raise BadRequest(f"bad request: body: \"policy\" must be a JSON object, got "
                         f"{_json_type(policy)}")
    timeout = _ms(policy, "executionTimeout", settings.min_execution_timeout,
                  settings.max_execution_timeout)
    ttl = _ms(policy, "ttl", settings.min_ttl, settings.max_ttl)
    low = policy.get("lowPriority", False)
    if low is None:
        low = False
    if not isinstance(low, bool):
        raise BadRequest(f"bad request: policy.lowPriority must be a boolean, got "
                         f"{_json_type(low)}")
    return ServerJobRequest(body=body,
                      execution_timeout=timeout or settings.default_execution_timeout,
                      ttl=ttl, low_priority=low)


def wait_param(raw: str | None, default: float, low: float, high: float) -> float:
    """A ``?wait=`` / ``?ttl=`` value in ms, clamped, as seconds; ``default`` when absent."""
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isnan(value):
        raise BadRequest(f"bad request: query: expected milliseconds, got {raw[:40]!r}")
    return min(max(value / 1000.0, low), high)
