"""Reading the values of ``%runpod`` flags: durations and counts within their ranges,
variable names, URLs, ids.

Every refusal is a ``UsageError`` that names the flag as it is typed, says the valid range,
and shows a working example in magic syntax (``--timeout 10m``), before anything is sent.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rp_jupyter.notebook.durations import DurationError, parse_duration
from rp_jupyter.notebook.usage import usage_error
from rp_jupyter.wire_rules import (
    EXECUTION_TIMEOUT_MAX_MS,
    EXECUTION_TIMEOUT_MIN_MS,
    TTL_MAX_MS,
    TTL_MIN_MS,
    id_problem,
)

__all__ = [
    "COUNTS", "DURATIONS", "count_flag", "duration_flag", "endpoint_id_flag", "http_url_flag",
    "job_id_flag", "money_flag", "number_flag", "variable_name_flag",
]

DAY = 86400.0


@dataclass(frozen=True)
class Range:
    """The accepted values of one flag, and an example of a good one."""

    low: float
    high: float
    example: str


#: Duration flags, in seconds.  ``--timeout`` and ``--ttl`` are the API's policy ranges.
DURATIONS: dict[str, Range] = {
    "--timeout": Range(EXECUTION_TIMEOUT_MIN_MS / 1000, EXECUTION_TIMEOUT_MAX_MS / 1000, "10m"),
    "--ttl": Range(TTL_MIN_MS / 1000, TTL_MAX_MS / 1000, "1h"),
    "--last": Range(1.0, 3650 * DAY, "2h"),
    "--interval": Range(0.5, 3600.0, "10s"),  # the health panel's own bounds
    "--retention": Range(1.0, 7 * DAY, "30m"),
    "--cold-start": Range(0.1, 3600.0, "8s"),
}
#: Whole-number flags.
COUNTS: dict[str, Range] = {
    "--limit": Range(1, 10_000, "50"),
    "--workers": Range(0, 64, "2"),
    "--throttled": Range(0, 64, "1"),
    "--unhealthy": Range(0, 64, "1"),
}
#: Flags taking any number in a range.
NUMBERS: dict[str, Range] = {
    "--speed": Range(0.1, 100.0, "2"),
}


def duration_flag(flag: str, text: Any, source: str | None = None) -> float:
    """Seconds in ``text`` (``90``, ``90s``, ``10m``, ``1h30m``), within the flag's range.

    ``nan``, ``inf``, huge, negative and zero values are refused with the range.
    ``source`` names where a value not typed on the line came from (a setting).

    Example::

        >>> duration_flag("--timeout", "10m")
        600.0
    """
    bounds = DURATIONS[flag]
    shown = f"{flag} {_shown(text)}" + (f" (from {source})" if source else "")
    hint = f"write a number with a unit, e.g. {flag} {bounds.example}"
    try:
        seconds = parse_duration(text)
    except DurationError:
        raise usage_error(f"{shown} is not a duration; write seconds (90) or a number with "
                          "a unit: 500ms, 90s, 10m, 2h, 1d, 1h30m", hint) from None
    if not bounds.low <= seconds <= bounds.high:  # also refuses nan
        raise usage_error(f"{shown} is out of range: it must be between "
                          f"{_seconds(bounds.low)} and {_seconds(bounds.high)}", hint)
    return seconds


def count_flag(flag: str, value: int) -> int:
    """``value`` if it lies in the flag's range."""
    bounds = COUNTS[flag]
    if not bounds.low <= value <= bounds.high:
        shown = str(value) if abs(value) < 10**12 else "a huge number"
        raise usage_error(
            f"{flag} {shown} is out of range: it must be between {bounds.low:g} and "
            f"{bounds.high:g}", f"e.g. {flag} {bounds.example}")
    return value


def number_flag(flag: str, text: Any) -> float:
    """The number in ``text`` if it lies in the flag's range (``nan`` and ``inf`` refused)."""
    bounds = NUMBERS[flag]
    hint = f"e.g. {flag} {bounds.example}"
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise usage_error(f"{flag} {_shown(text)} is not a number", hint) from None
    if not bounds.low <= value <= bounds.high:
        raise usage_error(f"{flag} {_shown(text)} is out of range: it must be between "
                          f"{bounds.low:g} and {bounds.high:g}", hint)
    return value


def money_flag(what: str, text: str, example: str) -> float:
    """A positive number of dollars (``2.50`` or ``$2.50``)."""
    import math

    try:
        amount = float(str(text).strip().lstrip("$").replace(",", ""))
    except ValueError:
        amount = math.nan
    if not (math.isfinite(amount) and amount > 0):
        raise usage_error(f"{what} {_shown(text)} is not a positive number of dollars",
                          f"e.g. {example}")
    return amount


def variable_name_flag(flag: str, text: str) -> str:
    """A name a value can be bound to in the notebook."""
    if not text.isidentifier() or keyword.iskeyword(text):
        raise usage_error(f"{flag} {_shown(text)} is not a Python variable name",
                          f"e.g. {flag} job1")
    return text


def http_url_flag(flag: str, text: str, example: str) -> str:
    """An ``http(s)://host...`` URL."""
    good = text.isprintable() and " " not in text
    if good:
        try:
            parts = urlsplit(text)
            good = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            good = False
    if not good:
        raise usage_error(f"{flag} {_shown(text)} is not an http(s) URL", f"e.g. {flag} {example}")
    return text


def job_id_flag(text: str) -> str:
    """A job id that can go into a URL path (see :mod:`rp_jupyter.wire_rules`)."""
    problem = id_problem(text)
    if problem:
        raise usage_error(f"invalid job id {_shown(text)}: it {problem}; nothing was sent",
                          "JOB is a variable holding a Job, a job id, or a unique prefix of "
                          "one started in this notebook")
    return text


def endpoint_id_flag(text: str) -> str:
    """An endpoint id that can go into a URL path."""
    problem = id_problem(text.strip())
    if problem:
        raise usage_error(f"invalid endpoint id {_shown(text)}: it {problem}; nothing was sent",
                          "copy the id from the Runpod console, e.g. %%runpod run abc123xyz")
    return text.strip()


def _shown(text: Any) -> str:
    text = str(text)
    return ascii(text if len(text) <= 40 else text[:37] + "...")[1:-1]


def _seconds(seconds: float) -> str:
    for unit, size in (("days", DAY), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
