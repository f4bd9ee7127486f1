"""Facts both sides of the wire agree on: what an id may be, how deep JSON may nest.

A neutral module (standard library only): the client (``api``), the engine and the local
endpoint all read these rules from here, so a value the client accepts is one the local
endpoint accepts too.

Example::

    >>> id_problem("../health")
    "contains '/', which would leave the route"
    >>> path_segment("job 1?")
    'job%201%3F'
"""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import quote

__all__ = ["MAX_ID_LENGTH", "MAX_JSON_DEPTH", "id_problem", "json_too_deep", "path_segment"]

#: Longest job or endpoint id accepted (real ones are under 60 characters).
MAX_ID_LENGTH = 256
#: Deepest nesting of objects and arrays accepted in a job's input or a request body.
MAX_JSON_DEPTH = 100


def id_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a job or endpoint id in a URL path, or ``None`` if it can.

    An id is one path segment: it may not be empty, ``.`` or ``..``, hold ``/`` or ``\\``
    (either would move the request to another route), control characters, or characters
    that cannot be encoded as UTF-8.  Anything else is sent percent-encoded.
    """
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value.strip():
        return "is empty"
    if value in (".", ".."):
        return f"is {value!r}, which names a folder, not an id"
    if len(value) > MAX_ID_LENGTH:
        return f"is {len(value):,} characters long (at most {MAX_ID_LENGTH})"
    for sep in ("/", "\\"):
        if sep in value:
            return f"contains {sep!r}, which would leave the route"
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            return f"contains a control character ({char!a})"
        if category == "Cs":
            return f"contains an unpaired surrogate ({char!a}), which is not text"
    return None


def path_segment(value: str) -> str:
    """``value`` percent-encoded as one URL path segment (only ``A-Z a-z 0-9 - . _ ~`` stay
    as they are), for an id that :func:`id_problem` accepts."""
    return quote(value, safe="-._~")


def json_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests objects and arrays more than ``limit`` deep.

    Iterative, so a document nested far deeper than Python's recursion limit is measured
    without overflowing the stack.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return False
