"""Presenting to a room (``%runpod present on|off``): panels hide job ids and timings, which
mean nothing to an audience, and show their text larger.

One process-wide switch, read by the header (what it shows) and by every view that builds
HTML (how large): :func:`for_the_room` scales the font sizes of a piece of markup.
"""

from __future__ import annotations

import re

__all__ = ["SCALE", "for_the_room", "presenting", "set_presenting"]

SCALE = 1.5
_FONT_SIZE = re.compile(r"font-size:(\d+(?:\.\d+)?)px")
_on = False


def presenting() -> bool:
    """True while ``%runpod present on`` is in force."""
    return _on


def set_presenting(on: bool) -> None:
    global _on
    _on = bool(on)


def for_the_room(html: str) -> str:
    """``html`` with every font size enlarged while presenting (unchanged otherwise).

    Example::

        for_the_room('<div style="font-size:13px">hi</div>')  # font-size:19.5px when on
    """
    if not _on:
        return html
    return _FONT_SIZE.sub(lambda m: f"font-size:{float(m[1]) * SCALE:g}px", html)
