"""Which bracket a JSON cell leaves open or closes wrongly, so the error can say what is
missing (``'}' is missing: the '{' opened at line 1, column 1 is never closed``) instead of
the parser's "Expecting ',' delimiter" at the end of the cell."""

from __future__ import annotations

__all__ = ["bracket_problem"]

PAIRS = {"{": "}", "[": "]"}


def _where(text: str, index: int, offset: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line + offset}, column {column}"


def bracket_problem(text: str, offset: int = 0) -> str | None:
    """One sentence about the first unbalanced bracket of ``text`` outside strings, or
    ``None`` when they balance.  ``offset`` is added to line numbers (the magic's line).

    Example::

        bracket_problem('{"a": [1, 2}')
        # "']' is missing before the '}' at line 1, column 12: the '[' opened at
        #  line 1, column 7 is still open"
    """
    stack: list[int] = []
    quote, escaped = "", False  # the quote of the string we are in (Python cells use ')
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char in PAIRS:
            stack.append(index)
        elif char in ("}", "]"):
            if not stack:
                return f"the '{char}' at {_where(text, index, offset)} closes nothing"
            opened = stack.pop()
            wanted = PAIRS[text[opened]]
            if char != wanted:
                return (f"'{wanted}' is missing before the '{char}' at "
                        f"{_where(text, index, offset)}: the '{text[opened]}' opened at "
                        f"{_where(text, opened, offset)} is still open")
    if quote:
        return f"a string is never closed: a {quote} is missing"
    if stack:
        opened = stack[-1]
        more = f" (and {len(stack) - 1} more)" if len(stack) > 1 else ""
        return (f"'{PAIRS[text[opened]]}' is missing at the end of the cell: the "
                f"'{text[opened]}' opened at {_where(text, opened, offset)} is never "
                f"closed{more}")
    return None
