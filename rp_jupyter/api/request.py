"""Building and checking a job request before anything is sent.

Every check says what to change: policy ranges, JSON-serialisable input, payload limits.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from rp_jupyter.api._constants import (
    EXECUTION_TIMEOUT_MAX_MS,
    EXECUTION_TIMEOUT_MIN_MS,
    RUN_MAX_BYTES,
    RUNSYNC_MAX_BYTES,
    TTL_MAX_MS,
    TTL_MIN_MS,
)
from rp_jupyter.api.errors import InvalidRequestError
from rp_jupyter.api.redact import MASK

__all__ = ["JobRequest", "build_request", "canonical_json", "to_ms"]

S3_KEYS = ("accessId", "accessSecret", "bucketName", "endpointUrl", "objectPath")
S3_REQUIRED = ("accessId", "accessSecret", "bucketName", "endpointUrl")


@dataclass(frozen=True)
class JobRequest:
    """A validated request body, encoded once.

    ``body`` is what is sent; ``redacted`` is the same with ``s3Config.accessSecret`` masked
    (what the journal stores and ``--dry-run`` shows); ``request_hash`` keys input reuse.
    """

    body: dict[str, Any]
    encoded: bytes
    redacted: dict[str, Any]
    input_hash: str
    request_hash: str


def build_request(
    input: Any,
    *,
    webhook: str | None = None,
    execution_timeout: float | timedelta | None = None,
    ttl: float | timedelta | None = None,
    low_priority: bool | None = None,
    s3_config: Mapping[str, Any] | None = None,
    sync: bool = False,
) -> JobRequest:
    """Validate the parts of a job request and encode it.

    ``execution_timeout`` and ``ttl`` are seconds (or ``timedelta``).

    Example::

        >>> req = build_request({"prompt": "hi"}, execution_timeout=60)
        >>> req.body
        {'input': {'prompt': 'hi'}, 'policy': {'executionTimeout': 60000}}
    """
    body: dict[str, Any] = {"input": _check_input(input)}
    if webhook is not None:
        body["webhook"] = _check_webhook(webhook)
    policy: dict[str, Any] = {}
    if execution_timeout is not None:
        policy["executionTimeout"] = _check_range(
            "execution_timeout",
            execution_timeout,
            EXECUTION_TIMEOUT_MIN_MS,
            EXECUTION_TIMEOUT_MAX_MS,
        )
    if low_priority is not None:
        policy["lowPriority"] = bool(low_priority)
    if ttl is not None:
        policy["ttl"] = _check_range("ttl", ttl, TTL_MIN_MS, TTL_MAX_MS)
    if policy:
        body["policy"] = policy
    if s3_config is not None:
        body["s3Config"] = _check_s3(s3_config)

    encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    limit, route = (RUNSYNC_MAX_BYTES, "/runsync") if sync else (RUN_MAX_BYTES, "/run")
    if len(encoded) > limit:
        raise InvalidRequestError(
            f"the request body is {_mb(len(encoded))}; {route} accepts at most {_mb(limit)}",
            hint="send large data by URL, or have the handler fetch it from S3 (s3_config)"
            + ("" if sync else "; /runsync accepts up to 20 MB"),
        )
    redacted = dict(body)
    if "s3Config" in body:
        redacted["s3Config"] = {**body["s3Config"], "accessSecret": MASK}
    reuse_key = {
        k: redacted[k] for k in ("input", "policy", "s3Config", "webhook") if k in redacted
    }
    return JobRequest(
        body=body,
        encoded=encoded,
        redacted=redacted,
        input_hash=_sha256(canonical_json(body["input"])),
        request_hash=_sha256(canonical_json(reuse_key)),
    )


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no spaces (for hashing)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def to_ms(value: float | timedelta) -> int:
    """Seconds (or a timedelta) to whole milliseconds."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return round(seconds * 1000)


def _check_input(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            f"input must be a JSON object (a dict), not {type(value).__name__}",
            hint='wrap it in a dict, e.g. {"prompt": ...} or {"items": [...]}',
        )
    value = dict(value)
    problem = _first_unserialisable(value, "input")
    if problem:
        raise InvalidRequestError(
            f"{problem[0]} is not JSON-serialisable ({problem[1]})",
            hint="inputs must be dicts, lists, strings, numbers, booleans or None; "
            "convert other values first (e.g. str(x), x.tolist(), base64 for bytes)",
        )
    return value


def _first_unserialisable(value: Any, path: str) -> tuple[str, str] | None:
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"{value} is not valid JSON")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return (f"{path}[{key!r}]", f"keys must be strings, got {type(key).__name__}")
            found = _first_unserialisable(item, f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _first_unserialisable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    return (path, f"a {type(value).__name__}")


def _check_range(name: str, value: Any, low_ms: int, high_ms: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, timedelta)):
        raise InvalidRequestError(
            f"{name} must be a number of seconds or a timedelta, not {type(value).__name__}"
        )
    ms = to_ms(value)
    if not low_ms <= ms <= high_ms:
        raise InvalidRequestError(
            f"{name} is {_duration(ms)}; it must be between "
            f"{_duration(low_ms)} and {_duration(high_ms)}",
            hint=f"pass {name} in seconds, e.g. {name}=600 for 10 minutes",
        )
    return ms


def _check_webhook(url: Any) -> str:
    parsed = urlparse(str(url))
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidRequestError(
            f"webhook must be an http(s) URL, got {url!r}",
            hint="e.g. webhook='https://example.com/runpod-hook'",
        )
    return str(url)


def _check_s3(config: Any) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise InvalidRequestError("s3_config must be a dict with " + ", ".join(S3_REQUIRED))
    unknown = sorted(set(config) - set(S3_KEYS))
    missing = [k for k in S3_REQUIRED if not config.get(k)]
    if unknown or missing:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(unknown))
        raise InvalidRequestError(
            "s3_config: " + "; ".join(parts),
            hint="s3_config takes accessId, accessSecret, bucketName, endpointUrl (and objectPath)",
        )
    return {k: str(config[k]) for k in S3_KEYS if k in config}


def _duration(ms: int) -> str:
    seconds = ms / 1000
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
