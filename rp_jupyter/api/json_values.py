"""Is a Python value JSON the API can carry?  And its three encodings.

:func:`check_json` walks a value once and refuses, naming the path of the bad part
(``input.files[0]``), anything JSON cannot hold: other types, NaN and infinities, numbers
beyond 64 bits, non-string keys, text that is not encodable (a lone surrogate, as
``os.listdir`` returns for a file name that is not UTF-8), a structure that contains
itself, or nesting deeper than the endpoint accepts.  It returns
the :class:`~rp_jupyter.api.redact.Secret` values it met.

:func:`encode` spells a checked value with its secrets revealed (the request body) or
masked (the journal, ``--dry-run``); :func:`canonical_json` spells it for hashing, with
each secret replaced by its digest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from rp_jupyter.api.errors import InvalidRequestError
from rp_jupyter.api.redact import MASK, Secret
from rp_jupyter.wire_rules import MAX_JSON_DEPTH

__all__ = ["canonical_json", "check_json", "encode", "format_path"]

#: The request body wraps ``input`` one level deeper, and the body may nest MAX_JSON_DEPTH.
INPUT_MAX_DEPTH = MAX_JSON_DEPTH - 1
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
_CONVERT_HINT = ("inputs must be dicts, lists, strings, numbers, booleans or None; "
                 "convert other values first (e.g. str(x), x.tolist(), base64 for bytes)")


def check_json(value: Any, root: str = "input") -> list[Secret]:
    """Raise :class:`InvalidRequestError` naming the first part of ``value`` that JSON
    cannot carry; return the secrets found (in order)."""
    secrets: list[Secret] = []
    _walk(value, [root], {}, secrets)
    return secrets


def encode(value: Any, *, reveal: bool) -> str:
    """Compact JSON of a checked value; secrets revealed, or masked as ``********``."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                      default=_revealed if reveal else _masked)


def canonical_json(value: Any) -> str:
    """One spelling per JSON value (sorted keys, no spaces), for hashing: each secret is
    replaced by its digest, so equal secrets hash alike and the value is never used."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_digested)


def format_path(parts: list[str | int]) -> str:
    """``["input", "files", 0]`` -> ``input.files[0]``; odd keys are quoted; very long paths
    keep their start and end."""
    shown = [_segment(p) if i else str(p) for i, p in enumerate(parts)]
    if len(shown) > 9:
        shown = [*shown[:4], f"…({len(shown) - 7} more)…", *shown[-3:]]
    return "".join(shown)


def _segment(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if part.isidentifier() and part.isascii():
        return f".{part}"
    return f"[{json.dumps(part)}]"  # escapes quotes, control characters and surrogates


def _walk(value: Any, path: list[Any], ancestors: dict[int, int],
          secrets: list[Secret]) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, Secret):
        _check_text(value.reveal(), path, "the secret")
        secrets.append(value)
        return
    if isinstance(value, str):
        _check_text(value, path, "the text")
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise InvalidRequestError(
                f"{format_path(path)} is a number too large for JSON (more than 64 bits)",
                hint="send very large numbers as strings, e.g. str(n)")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequestError(
                f"{format_path(path)} is {value}, which is not valid JSON",
                hint="JSON has no NaN or infinity; use None or a finite number")
        return
    if not isinstance(value, (Mapping, list, tuple)):
        raise InvalidRequestError(
            f"{format_path(path)} is not JSON-serialisable (a {type(value).__name__})",
            hint=_CONVERT_HINT)
    if len(path) > INPUT_MAX_DEPTH:
        raise InvalidRequestError(
            f"{format_path(path)} is nested more than {INPUT_MAX_DEPTH} levels deep",
            hint="flatten the structure; deeper JSON is refused by the endpoint")
    if id(value) in ancestors:
        raise InvalidRequestError(
            f"{format_path(path)} refers back to {format_path(path[:ancestors[id(value)]])} "
            "(a circular structure)",
            hint="JSON cannot hold a value that contains itself; build a copy without "
            "the loop")
    ancestors[id(value)] = len(path)
    try:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidRequestError(
                        f"{format_path(path)} has a key {_short(key)} "
                        f"({type(key).__name__}); JSON keys must be strings",
                        hint="convert the keys, e.g. {str(k): v for k, v in d.items()}")
                _check_text(key, [*path, key], "the key")
                path.append(key)
                _walk(item, path, ancestors, secrets)
                path.pop()
        else:
            for index, item in enumerate(value):
                path.append(index)
                _walk(item, path, ancestors, secrets)
                path.pop()
    finally:
        del ancestors[id(value)]


def _check_text(text: str, path: list[Any], what: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        bad = text[err.start]
        raise InvalidRequestError(
            f"{format_path(path)}: {what} holds {bad!a} at position {err.start}, "
            "an unpaired surrogate that is not valid text (os.listdir gives such names "
            "for files whose names are not UTF-8)",
            hint="decode it first, e.g. os.fsencode(name).decode('utf-8', 'replace'), "
            "or send the raw bytes as base64") from None


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return ascii(text[:40] + ("…" if len(text) > 40 else ""))[1:-1]


def _revealed(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _masked(value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    return _revealed(value)


def _digested(value: Any) -> Any:
    if isinstance(value, Secret):
        return f"secret:sha256:{value.digest()}"
    return _revealed(value)
