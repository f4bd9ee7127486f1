"""``{{ expr }}`` placeholders in a cell body: where each one stands, and its text.

A cell is scanned once, the way its reader will read it: as JSON (strings in double quotes)
or as Python (quotes of both kinds, triple quotes, string prefixes, ``#`` comments).  Each
placeholder is known to stand outside any string or inside one (and which).  A placeholder
in a Python comment is left alone, never evaluated.  A placeholder is skipped as a whole, so
quotes inside its expression (``{{ d["k"] }}``) never confuse the scan.

:func:`stand_ins` gives the cell with every placeholder replaced by text of the same length
that reads the same way (a name or string outside strings, letters inside), so a cell can
be checked, and its errors located in what the user wrote, before anything is evaluated.

Example::

    >>> [(p.expr, p.quote) for p in find("{'a': {{ x }}, 'b': 'hi {{ y }}'}  # {{ z }}",
    ...                                  "python")]
    [('x', None), ('y', "'")]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["PLACEHOLDER", "Placeholder", "find", "stand_ins"]

PLACEHOLDER = re.compile(r"\{\{(.+?)\}\}")
Language = Literal["json", "python"]
_PREFIX = re.compile(r"(?i)(?:rb|br|rf|fr|r|b|f|u)$")
#: where the scan must look: a placeholder, a quote, a backslash, a comment, a line end
_NOTABLE = {"json": re.compile(r'\{\{|["\\]'), "python": re.compile(r"\{\{|[\"'\\#\n]")}


@dataclass(frozen=True)
class Placeholder:
    """One ``{{ expr }}``: its span in the cell and the string literal it stands in
    (``quote`` is that literal's delimiter, ``None`` outside strings; ``prefix`` its
    lower-cased Python prefix, such as ``"r"`` or ``"f"``)."""

    start: int
    end: int
    expr: str
    quote: str | None = None
    prefix: str = ""

    @property
    def inside_string(self) -> bool:
        return self.quote is not None


def find(text: str, language: Language) -> list[Placeholder]:
    """Every placeholder that counts in ``text`` read as ``language``, in order."""
    found: list[Placeholder] = []
    if "{{" not in text:
        return found
    quote: str | None = None
    prefix = ""
    i, n = 0, len(text)
    notable = _NOTABLE[language]
    while i < n:
        jump = notable.search(text, i)  # nothing between here and there changes the reading
        if jump is None:
            break
        i = jump.start()
        match = PLACEHOLDER.match(text, i) if text.startswith("{{", i) else None
        if match:
            found.append(Placeholder(i, match.end(), match.group(1).strip(), quote, prefix))
            i = match.end()
            continue
        char = text[i]
        if quote is not None:
            if char == "\\":  # skip an escaped quote or backslash, not a "{" after it
                i += 2 if text[i + 1:i + 2] in ("\\", "\n", '"', "'") else 1
                continue
            if text.startswith(quote, i):
                quote, i = None, i + len(quote)
                continue
            if char == "\n" and len(quote) == 1 and language == "python":
                quote = None  # an unterminated string: the compiler says so
            i += 1
            continue
        if language == "python" and char == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if char == '"' or (char == "'" and language == "python"):
            if language == "python":
                triple = char * 3
                quote = triple if text.startswith(triple, i) else char
                prefix = _prefix_before(text, i)
            else:
                quote = char
            i += len(quote)
            continue
        i += 1
    return found


def _prefix_before(text: str, at: int) -> str:
    """The string prefix (``r``, ``b``, ``f``, ``rb``...) right before a quote, if any."""
    start = at
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    word = text[start:at]
    return word.lower() if _PREFIX.match(word) and len(word) <= 2 else ""


def stand_ins(text: str, placeholders: list[Placeholder], language: Language) -> str:
    """``text`` with each placeholder replaced by a same-length stand-in that parses the
    same way: a JSON string or a Python name outside strings, plain letters inside."""
    pieces, last = [], 0
    for p in placeholders:
        width = p.end - p.start
        if p.inside_string:
            stand_in = "x" * width
        elif language == "json":
            stand_in = '"' + "x" * (width - 2) + '"'
        else:
            stand_in = "_" * width
        pieces += [text[last:p.start], stand_in]
        last = p.end
    pieces.append(text[last:])
    return "".join(pieces)
