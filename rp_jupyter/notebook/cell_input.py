"""How a ``%%runpod run`` cell body becomes a job's ``input``.

Rules (``--format auto``, the default):

1. A body starting with ``{`` or ``[`` is JSON if it parses as JSON, else a Python
   expression (a dict literal that may use notebook variables).  If it is neither, that is
   an error showing where the JSON broke; it is never sent as text.
2. Any other body is text, sent as ``{"prompt": TEXT}`` (the key is set by ``--text-key``).
3. The input must be a JSON object (a dict).

``--format json|python|text`` forces one reading (``python`` accepts any expression that
evaluates to a dict, e.g. ``dict(prompt=p)`` or a variable).

Placeholders ``{{ expr }}`` are filled from the notebook namespace: inside a JSON string
with the value's text, JSON-escaped; as a JSON value with the value's JSON encoding; in
Python with the value itself (inside a Python string, with its text, escaped for that
string); in text with ``str(value)``.  So a variable holding quotes or newlines cannot break
the request.  Each placeholder is evaluated once per cell run, only after the cell has been
found readable, and never in a Python comment; error positions point into the cell as
written.  ``--no-expand`` turns them off.

A trailing ``;`` (IPython's mark for a silenced cell) is not part of a JSON or Python body;
a text body is sent as written, ``;`` included.
``b64(path)`` and ``data_url(path)`` work in placeholders without an import, and ``bytes`` or
a Pillow image in a placeholder becomes base64 text.
A placeholder holding a :class:`~rp_jupyter.Secret` stays a secret: it may stand as a value
(the cell is then read as Python), never inside text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rp_jupyter.api.json_values import INPUT_MAX_DEPTH
from rp_jupyter.api.redact import Secret
from rp_jupyter.notebook import placeholders
from rp_jupyter.notebook.brackets import bracket_problem

__all__ = ["FORMATS", "CellInput", "CellInputError", "parse_cell"]

Format = Literal["auto", "json", "python", "text"]
FORMATS = ("auto", "json", "python", "text")


class CellInputError(ValueError):
    """The cell body cannot be read; ``hint`` says what to change."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class CellInput:
    """The parsed input and how it was read (shown in the panel)."""

    value: dict[str, Any]
    format: str  # "json", "python" or "text"
    read_as: str  # one line for people, e.g. 'JSON object (3 keys)'


def parse_cell(
    body: str,
    namespace: Mapping[str, Any],
    *,
    format: Format = "auto",
    text_key: str = "prompt",
    expand: bool = True,
    first_line: int = 2,
) -> CellInput:
    """Read a cell body into a job input; see the module docstring for the rules.

    ``first_line`` is the cell line the body starts on (the magic line is line 1), so
    error positions match what the user sees.

    Example::

        >>> parse_cell('{"n": {{ n }}}', {"n": 3}).value
        {'n': 3}
        >>> parse_cell("Tell me a joke", {}).value
        {'prompt': 'Tell me a joke'}
    """
    if format not in FORMATS:
        raise CellInputError(f"unknown format {format!r}", hint="use auto, json, python or text")
    text = body.strip("\n").rstrip()
    if not text.strip():
        raise CellInputError(
            "the cell has no input",
            hint='write the input below the magic line: JSON ({"prompt": "..."}), '
            "a Python dict, or plain text",
        )
    offset = first_line + (len(body) - len(body.lstrip("\n"))) - 1
    values = _Values(namespace)
    if format == "text" or (format == "auto" and text.lstrip()[:1] not in ("{", "[")):
        return _as_text(text, values, text_key, expand)
    if text.endswith(";"):  # IPython's silencing mark, not part of the input
        text = text[:-1].rstrip()
    if format == "python":
        return _as_python(text, values, expand, offset, strict=True)
    holes = placeholders.find(text, "json") if expand else []
    try:  # the shape first: nothing runs until the cell is known to be JSON
        shape = _load_json(placeholders.stand_ins(text, holes, "json"))
    except json.JSONDecodeError as json_error:
        if format == "json":
            raise _json_error(text, json_error, offset) from None
        try:
            return _as_python(text, values, expand, offset, strict=False)
        except SyntaxError:
            raise _json_error(text, json_error, offset,
                              also="nor a Python expression") from None
    if not holes:
        return CellInput(_require_object(shape, "JSON"), "json", _describe("JSON object", shape))
    try:
        return _as_json(text, holes, values)
    except _SecretValue:
        if format == "json":
            raise CellInputError(
                "a placeholder holds a Secret, which cannot be written into JSON text",
                hint="drop --format json: the cell is then read as Python and the Secret "
                "kept as a value") from None
        return _as_python(text, values, expand, offset, strict=True)


class _Values:
    """Placeholder values of one cell run: each evaluated the first time it is needed,
    then reused (by its place in the cell), so none runs twice."""

    def __init__(self, namespace: Mapping[str, Any]) -> None:
        self.namespace = namespace
        self._known: dict[tuple[int, int], Any] = {}

    def of(self, hole: placeholders.Placeholder) -> Any:
        key = (hole.start, hole.end)
        if key not in self._known:
            self._known[key] = _evaluate(hole.expr, self.namespace)
        return self._known[key]


def _as_text(text: str, values: _Values, key: str, expand: bool) -> CellInput:
    if expand:
        holes = [placeholders.Placeholder(m.start(), m.end(), m.group(1).strip())
                 for m in placeholders.PLACEHOLDER.finditer(text)]
        text = _filled(text, holes, lambda hole: _text_of(values.of(hole)))
    return CellInput({key: text}, "text", f'text, sent as {{"{key}": ...}} ({len(text)} chars)')


def _as_json(text: str, holes: list[placeholders.Placeholder], values: _Values) -> CellInput:
    def fill(hole: placeholders.Placeholder) -> str:
        value = values.of(hole)
        return _json_in_string(value) if hole.inside_string else _json_literal(value)

    value = _load_json(_filled(text, holes, fill))
    return CellInput(_require_object(value, "JSON"), "json", _describe("JSON object", value))


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise _too_deep() from None


def _as_python(text: str, values: _Values, expand: bool, offset: int, *,
               strict: bool) -> CellInput:
    holes = placeholders.find(text, "python") if expand else []
    code = _compile(placeholders.stand_ins(text, holes, "python"), text, offset, strict=strict)
    bindings: dict[str, Any] = {}

    def fill(hole: placeholders.Placeholder) -> str:
        value = values.of(hole)
        if hole.inside_string:
            return _python_in_string(value, hole)
        name = f"__rp_value_{len(bindings)}"
        bindings[name] = value
        return name

    if holes:
        code = _compile(_filled(text, holes, fill), text, offset, strict=True)
    scope = {**values.namespace, **bindings} if bindings else values.namespace
    try:
        value = eval(code, dict(scope))  # the user's own notebook namespace
    except Exception as exc:
        raise CellInputError(
            f"evaluating the cell as Python failed: {type(exc).__name__}: {exc}",
            hint="define the variables the cell uses, or send it as --format text",
        ) from None
    return CellInput(_require_object(value, "Python"), "python",
                     _describe("Python dict", value))


def _compile(source: str, text: str, offset: int, *, strict: bool) -> Any:
    """Compile one expression; a syntax error says where it is in ``text`` (what the user
    wrote: ``source`` has the same layout), or is raised as it is when not ``strict``."""
    lead = source[:len(source) - len(source.lstrip())]
    try:
        return compile(source.strip(), "<runpod cell>", "eval")
    except (RecursionError, MemoryError):
        raise _too_deep() from None
    except ValueError:  # a NUL character (a SyntaxError from Python 3.12 on)
        if not strict:
            raise SyntaxError("null character") from None
        raise CellInputError("not a Python expression: it holds a NUL character",
                             hint="remove the \\x00 from the cell") from None
    except SyntaxError as exc:
        if not strict:
            raise
        if "\x00" in source:
            raise CellInputError("not a Python expression: it holds a NUL character",
                                 hint="remove the \\x00 from the cell") from None
        line = (exc.lineno or 1) + lead.count("\n")
        column = (exc.offset or 1) + (len(lead) - lead.rfind("\n") - 1
                                      if (exc.lineno or 1) == 1 else 0)
        raise CellInputError(
            f"not a Python expression: {exc.msg} at {_where(text, line, column, offset)}",
            hint="--format python takes one expression that evaluates to a dict",
        ) from None


def _require_object(value: Any, kind: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise CellInputError(
            f"the cell is a {kind} {type(value).__name__}, but a job's input must be an object",
            hint='wrap it, e.g. {"items": [...]}',
        )
    return dict(value)


def _describe(kind: str, value: Mapping[str, Any]) -> str:
    keys = list(value)
    shown = ", ".join(keys[:4]) + (", …" if len(keys) > 4 else "")
    return f"{kind} ({len(keys)} key{'s' if len(keys) != 1 else ''}: {shown})"


# -- placeholders ---------------------------------------------------------------------------


def _filled(text: str, holes: list[placeholders.Placeholder],
            fill: Callable[[placeholders.Placeholder], str]) -> str:
    """``text`` with each placeholder replaced by ``fill(placeholder)``, left to right."""
    pieces, last = [], 0
    for hole in holes:
        pieces += [text[last:hole.start], fill(hole)]
        last = hole.end
    pieces.append(text[last:])
    return "".join(pieces)


def _evaluate(expr: str, namespace: Mapping[str, Any]) -> Any:
    """A placeholder's value; ``b64`` and ``data_url`` need no import, and ``bytes`` or a
    Pillow image become base64 text (never a repr)."""
    from rp_jupyter.formats import as_base64, b64, data_url

    expr = expr.strip()
    try:
        value = eval(compile(expr, "<runpod placeholder>", "eval"),
                     {"b64": b64, "data_url": data_url, **namespace})
        encoded = as_base64(value)
        return value if encoded is None else encoded
    except NameError as exc:
        name = getattr(exc, "name", None) or expr
        raise CellInputError(
            f"{{{{ {expr} }}}}: {name!r} is not defined in the notebook",
            hint=f"define {name} in a cell above, or remove the placeholder",
        ) from None
    except FileNotFoundError as exc:
        raise CellInputError(f"{{{{ {expr} }}}}: {exc}",
                             hint="check the file name, or give the file's full path") from None
    except Exception as exc:
        raise CellInputError(f"{{{{ {expr} }}}}: {type(exc).__name__}: {exc}",
                             hint="fix the expression in the placeholder (it runs in the "
                             "notebook's namespace), or use --no-expand") from None


class _SecretValue(Exception):
    """A placeholder in a JSON cell holds a Secret: read the cell as Python instead."""


def _json_literal(value: Any) -> str:
    if _is_secret(value):
        raise _SecretValue
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError) as exc:
        why = ("it contains itself" if "ircular" in str(exc) else
               "it nests too deeply" if isinstance(exc, RecursionError) else
               "a number too large for JSON" if isinstance(value, int) else
               f"a {type(value).__name__}")
        raise CellInputError(
            f"a placeholder's value is not JSON-serialisable ({why})",
            hint="convert it first, e.g. {{ str(x) }} or {{ x.tolist() }}",
        ) from None


def _json_in_string(value: Any) -> str:
    return json.dumps(_text_of(value))[1:-1]


def _python_in_string(value: Any, hole: placeholders.Placeholder) -> str:
    """A value's text written into the Python string literal the placeholder stands in."""
    text = _text_of(value)
    quote, prefix = (hole.quote or '"')[0], hole.prefix
    if "r" in prefix:  # a raw string has no escapes: only plain text can go in
        if (quote in text or "\\" in text or any(ord(c) < 32 or ord(c) == 127 for c in text)
                or ("b" in prefix and not text.isascii())):
            raise CellInputError(
                f"{{{{ {hole.expr} }}}} stands in a raw string ({prefix}{quote}...{quote}), "
                "but its text holds a quote, a backslash or a control character (or, in "
                "bytes, a character beyond ASCII), which a raw string cannot hold",
                hint="use a plain string, or put the placeholder outside it: "
                f"{prefix}{quote}...{quote} + {{{{ {hole.expr} }}}}")
    else:
        text = text.replace("\\", "\\\\").replace(quote, "\\" + quote)
        if "b" in prefix:  # bytes literals take ASCII only: the text's UTF-8, escaped
            text = "".join(c if ord(c) < 128 else "".join(f"\\x{b:02x}" for b in c.encode())
                           for c in text)
        text = text.translate(_CONTROL_ESCAPES)
    if "f" in prefix:  # an f-string reads braces as fields
        text = text.replace("{", "{{").replace("}", "}}")
    return text


_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(32), 127]}


def _text_of(value: Any) -> str:
    """``str(value)`` for a placeholder written into text; a Secret is refused (its text
    would be sent and shown as plain text)."""
    if _is_secret(value):
        raise CellInputError(
            "a placeholder holds a Secret, which cannot be written into text",
            hint='give it a field of its own, e.g. {"prompt": "...", "token": {{ token }}}')
    try:
        return str(value)
    except Exception as exc:
        raise CellInputError(
            f"a placeholder's value ({type(value).__name__}) cannot be turned into text: "
            f"{type(exc).__name__}", hint="convert it first, e.g. {{ repr(x) }}") from None


def _is_secret(value: Any) -> bool:
    return isinstance(value, Secret)


# -- errors ----------------------------------------------------------------------------------


def _too_deep() -> CellInputError:
    return CellInputError(
        f"the cell nests objects or lists too deeply (the endpoint accepts "
        f"{INPUT_MAX_DEPTH} levels)",
        hint="flatten the input; the endpoint refuses JSON nested that deep")


def _json_error(text: str, error: json.JSONDecodeError, offset: int,
                *, also: str = "") -> CellInputError:
    nor = f", {also}" if also else ""
    message = (f"the cell starts like JSON but is not valid JSON{nor}: {error.msg} at "
               f"{_where(text, error.lineno, error.colno, offset)}")
    missing = bracket_problem(text, offset)
    if missing:
        message = f"{message}\n{missing}"
    return CellInputError(
        message,
        hint="fix the JSON (double quotes around keys and strings, commas between items), "
        "or add --format text to send the cell as text",
    )


def _where(text: str, line: int, column: int, offset: int) -> str:
    """``line L of the cell, column C`` and the line as written with a caret under C."""
    lines = text.splitlines() or [""]
    line_text = lines[max(1, min(line, len(lines))) - 1]
    caret = " " * (max(1, column) - 1) + "^"
    return f"line {line + offset} of the cell, column {column}\n    {line_text}\n    {caret}"
