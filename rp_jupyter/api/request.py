"""Building and checking a job request before anything is sent.

Every check says what to change: policy ranges, JSON-serialisable input (see
:mod:`json_values`), payload limits.  Secrets (``Secret`` input values, the S3 credentials)
are revealed only in the encoded body that is sent.
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
from rp_jupyter.api.json_values import canonical_json, check_json, encode
from rp_jupyter.api.redact import Secret

__all__ = ["JobRequest", "build_request", "canonical_json", "to_ms"]

S3_KEYS = ("accessId", "accessSecret", "bucketName", "endpointUrl", "objectPath")
S3_REQUIRED = ("accessId", "accessSecret", "bucketName", "endpointUrl")
S3_SECRET_KEYS = ("accessId", "accessSecret")
S3_HINT = "s3_config takes accessId, accessSecret, bucketName, endpointUrl (and objectPath)"


@dataclass(frozen=True, repr=False)
class JobRequest:
    """A validated request body, encoded once.

    ``body`` is the request as built, with every secret still a :class:`Secret` (so no repr
    shows it); ``encoded`` is what is sent, secrets revealed; ``redacted`` is plain JSON
    with every secret masked (what the journal stores and ``--dry-run`` shows);
    ``input_hash`` and ``request_hash`` key input reuse, with secrets hashed, never used
    as they are; ``secrets`` are every secret the request carries; ``cache_scope`` (part
    of ``request_hash``) says which code may answer it from the journal (a local
    endpoint's handler), ``None`` for the endpoint as it is.
    """

    body: dict[str, Any]
    encoded: bytes
    redacted: dict[str, Any]
    input_hash: str
    request_hash: str
    secrets: tuple[Secret, ...] = ()
    cache_scope: str | None = None

    def __repr__(self) -> str:
        shown = json.dumps(self.redacted, ensure_ascii=False)
        if len(shown) > 300:
            shown = shown[:300] + "…"
        return f"JobRequest({shown}, {len(self.encoded):,} bytes)"


def build_request(
    input: Any,
    *,
    webhook: str | None = None,
    execution_timeout: float | timedelta | None = None,
    ttl: float | timedelta | None = None,
    low_priority: bool | None = None,
    s3_config: Mapping[str, Any] | None = None,
    sync: bool = False,
    cache_scope: str | None = None,
) -> JobRequest:
    """Validate the parts of a job request and encode it.

    ``execution_timeout`` and ``ttl`` are seconds (or ``timedelta``).  Input values wrapped
    in :class:`Secret` (and the S3 credentials) are sent but never stored or shown.
    ``cache_scope`` is never sent: it only keys reuse (see :class:`JobRequest`).

    Example::

        >>> req = build_request({"prompt": "hi"}, execution_timeout=60)
        >>> req.body
        {'input': {'prompt': 'hi'}, 'policy': {'executionTimeout': 60000}}
    """
    input_value = _check_input(input)
    secrets = check_json(input_value, "input")
    input_value = _s3_keys_kept_secret(input_value, secrets)
    body: dict[str, Any] = {"input": input_value}
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
        secrets += [body["s3Config"][k] for k in S3_SECRET_KEYS]

    encoded = encode(body, reveal=True).encode()
    limit, route = (RUNSYNC_MAX_BYTES, "/runsync") if sync else (RUN_MAX_BYTES, "/run")
    if len(encoded) > limit:
        raise InvalidRequestError(
            f"the request body is {_mb(len(encoded))}; {route} accepts at most {_mb(limit)}",
            hint="send large data by URL, or have the handler fetch it from S3 (s3_config)"
            + ("" if sync else "; /runsync accepts up to 20 MB"),
        )
    reuse_key = {k: body[k] for k in ("input", "policy", "s3Config", "webhook") if k in body}
    if cache_scope is not None:
        reuse_key["scope"] = cache_scope
    return JobRequest(
        body=body,
        encoded=encoded,
        redacted=json.loads(encode(body, reveal=False)),
        input_hash=_sha256(canonical_json(body["input"])),
        request_hash=_sha256(canonical_json(reuse_key)),
        secrets=tuple(dict.fromkeys(secrets)),
        cache_scope=cache_scope,
    )


def to_ms(value: float | timedelta) -> int:
    """Seconds (or a timedelta) to whole milliseconds; a value that is not a finite number
    raises :class:`InvalidRequestError`."""
    try:
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    except OverflowError:
        seconds = math.inf
    except (TypeError, ValueError):
        raise InvalidRequestError(
            f"expected a number of seconds or a timedelta, not {type(value).__name__}",
            hint="e.g. 600 for 10 minutes, or timedelta(minutes=10)") from None
    if not math.isfinite(seconds):
        raise InvalidRequestError(f"{seconds} is not a duration: give a finite number of seconds",
                                  hint="e.g. 600 for 10 minutes, or timedelta(minutes=10)")
    return round(seconds * 1000)


def _check_input(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            f"input must be a JSON object (a dict), not {type(value).__name__}",
            hint='wrap it in a dict, e.g. {"prompt": ...} or {"items": [...]}',
        )
    return dict(value)


def _check_range(name: str, value: Any, low_ms: int, high_ms: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, timedelta)):
        raise InvalidRequestError(
            f"{name} must be a number of seconds or a timedelta, not {type(value).__name__}",
            hint=f"e.g. {name}=600 for 10 minutes")
    try:
        ms = to_ms(value)
    except InvalidRequestError:
        ms = None
    if ms is None or not low_ms <= ms <= high_ms:
        shown = _duration(ms) if ms is not None and abs(ms) < 10**15 else _far(value)
        raise InvalidRequestError(
            f"{name} is {shown}; it must be between "
            f"{_duration(low_ms)} and {_duration(high_ms)}",
            hint=f"pass {name} in seconds, e.g. {name}=600 for 10 minutes",
        )
    return ms


def _check_webhook(url: Any) -> str:
    if not isinstance(url, str):
        raise InvalidRequestError(f"webhook must be a URL string, not {type(url).__name__}",
                                  hint="e.g. webhook='https://example.com/runpod-hook'")
    check_json(url, "webhook")
    try:
        parsed = urlparse(url)
        good = parsed.scheme in ("http", "https") and bool(parsed.netloc)
    except ValueError:
        good = False
    if not good:
        shown = ascii(url if len(url) <= 80 else url[:77] + "...")
        raise InvalidRequestError(
            f"webhook must be an http(s) URL, got {shown}",
            hint="e.g. webhook='https://example.com/runpod-hook'",
        )
    return url


def _s3_keys_kept_secret(value: Any, secrets: list[Secret]) -> Any:
    """``value`` with the keys of every ``s3Config`` inside it (workers such as SDXL read
    one from their input) as :class:`Secret`; appends the new secrets.  Called on a value
    :func:`check_json` has accepted, so it is finite and acyclic."""
    if isinstance(value, Mapping):
        copied = {}
        for key, item in value.items():
            if key == "s3Config" and isinstance(item, Mapping):
                item = {k: _kept_secret(k, v, secrets) for k, v in item.items()}
            copied[key] = _s3_keys_kept_secret(item, secrets)
        return copied
    if isinstance(value, (list, tuple)):
        return [_s3_keys_kept_secret(item, secrets) for item in value]
    return value


def _kept_secret(key: str, value: Any, secrets: list[Secret]) -> Any:
    if key not in S3_SECRET_KEYS or not isinstance(value, str):
        return value
    secrets.append(Secret(value))
    return secrets[-1]


def _check_s3(config: Any) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise InvalidRequestError("s3_config must be a dict with " + ", ".join(S3_REQUIRED),
                                  hint=S3_HINT)
    unknown = sorted(k if isinstance(k, str) and k.isprintable() else ascii(k)
                     for k in config if k not in S3_KEYS)
    missing = [k for k in S3_REQUIRED if not config.get(k)]
    if unknown or missing:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            parts.append("unknown " + ", ".join(unknown))
        raise InvalidRequestError(
            "s3_config: " + "; ".join(parts),
            hint=S3_HINT,
        )
    checked: dict[str, Any] = {}
    for key in S3_KEYS:
        if key not in config:
            continue
        value = config[key]
        if not isinstance(value, (str, Secret)):
            raise InvalidRequestError(
                f"s3_config.{key} must be a string, not {type(value).__name__}", hint=S3_HINT)
        checked[key] = Secret(value) if key in S3_SECRET_KEYS else value
    check_json(checked, "s3_config")
    return checked


def _far(value: float | timedelta) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return "far out of range"


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
