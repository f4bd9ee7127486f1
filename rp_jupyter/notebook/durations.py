"""Durations as people type them: ``90``, ``90s``, ``10m``, ``2h``, ``1d``, ``1h30m``, ``500ms``."""

from __future__ import annotations

import re

__all__ = ["DurationError", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


class DurationError(ValueError):
    """A duration that could not be read; the message says how to write one."""


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``text``.

    Example::

        >>> parse_duration("90s"), parse_duration("10m"), parse_duration("1h30m")
        (90.0, 600.0, 5400.0)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    cleaned = str(text).strip().lower().replace(" ", "")
    try:
        return float(cleaned)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        raise DurationError(
            f"bad duration {str(text)!r}: write seconds (90) or a number with a unit: "
            "90s, 10m, 2h, 1d (or combined: 1h30m)"
        )
    return total


def format_duration(seconds: float | None) -> str:
    """Short human form: ``0.4 s``, ``12 s``, ``3 min 5 s``, ``1 h 2 min``."""
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
