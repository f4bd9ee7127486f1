"""How a ``%%runpod run`` cell body becomes a job's ``input``.

Rules (``--format auto``, the default):

1. A body starting with ``{`` or ``[`` is JSON if it parses as JSON, else a Python
   expression (a dict literal that may use notebook variables).  If it is neither, that is
   an error showing where the JSON broke; it is never sent as text.
2. Any other body is text, sent as ``{"prompt": TEXT}`` (the key is set by ``--text-key``).
3. The input must be a JSON object (a dict).

``--format json|python|text`` forces one reading (``python`` accepts any expression that
evaluates to a dict, e.g. ``dict(prompt=p)`` or a variable).

Placeholders ``{{ expr }}`` are filled from the notebook namespace before parsing: inside a
JSON string with the value's text, JSON-escaped; as a JSON value with the value's JSON
encoding; in Python with the value itself; in text with ``str(value)``.  So a variable
holding quotes or newlines cannot break the request.  ``--no-expand`` turns them off.
``b64(path)`` and ``data_url(path)`` work in placeholders without an import, and ``bytes`` or
a Pillow image in a placeholder becomes base64 text.
A placeholder holding a :class:`~rp_jupyter.Secret` stays a secret: it may stand as a value
(the cell is then read as Python), never inside text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rp_jupyter.api.json_values import INPUT_MAX_DEPTH
from rp_jupyter.api.redact import Secret
from rp_jupyter.notebook.brackets import bracket_problem

__all__ = ["FORMATS", "CellInput", "CellInputError", "parse_cell"]

Format = Literal["auto", "json", "python", "text"]
FORMATS = ("auto", "json", "python", "text")
PLACEHOLDER = re.compile(r"\{\{(.+?)\}\}")


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
    stripped = text.lstrip()
    if format == "text" or (format == "auto" and stripped[:1] not in ("{", "[")):
        return _as_text(text, namespace, text_key, expand)
    if format == "python":
        return _as_python(text, namespace, expand, strict=True)
    try:
        return _as_json(text, namespace, expand)
    except _SecretValue:
        if format == "json":
            raise CellInputError(
                "a placeholder holds a Secret, which cannot be written into JSON text",
                hint="drop --format json: the cell is then read as Python and the Secret "
                "kept as a value") from None
        return _as_python(text, namespace, expand, strict=True)
    except json.JSONDecodeError as json_error:
        if format == "json":
            raise _json_error(text, json_error, offset, expanded=expand) from None
        try:
            return _as_python(text, namespace, expand, strict=False)
        except SyntaxError:
            raise _json_error(text, json_error, offset, expanded=expand,
                              also="nor a Python expression") from None


def _as_text(text: str, namespace: Mapping[str, Any], key: str, expand: bool) -> CellInput:
    if expand:
        text = PLACEHOLDER.sub(lambda m: _text_of(_evaluate(m.group(1), namespace)), text)
    return CellInput({key: text}, "text", f'text, sent as {{"{key}": ...}} ({len(text)} chars)')


def _as_json(text: str, namespace: Mapping[str, Any], expand: bool) -> CellInput:
    filled = _fill(text, namespace, _json_literal, _json_in_string) if expand else text
    try:
        value = json.loads(filled)
    except RecursionError:
        raise _too_deep() from None
    return CellInput(_require_object(value, "JSON"), "json", _describe("JSON object", value))


def _as_python(text: str, namespace: Mapping[str, Any], expand: bool, *, strict: bool) -> CellInput:
    bindings: dict[str, Any] = {}

    def bind(value: Any) -> str:
        name = f"__rp_value_{len(bindings)}"
        bindings[name] = value
        return name

    filled = _fill(text, namespace, bind, _python_in_string) if expand else text
    try:
        code = compile(filled.strip(), "<runpod cell>", "eval")
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
        raise CellInputError(
            f"not a Python expression: {exc.msg} (line {exc.lineno}, column {exc.offset})",
            hint="--format python takes one expression that evaluates to a dict",
        ) from None
    scope = {**namespace, **bindings} if bindings else namespace
    try:
        value = eval(code, dict(scope))  # the user's own notebook namespace
    except Exception as exc:
        raise CellInputError(
            f"evaluating the cell as Python failed: {type(exc).__name__}: {exc}",
            hint="define the variables the cell uses, or send it as --format text",
        ) from None
    return CellInput(_require_object(value, "Python"), "python",
                     _describe("Python dict", value))


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


def _fill(text: str, namespace: Mapping[str, Any], outside, inside) -> str:
    """Replace each ``{{ expr }}`` depending on whether it sits inside a string literal."""
    pieces, last = [], 0
    for match in PLACEHOLDER.finditer(text):
        value = _evaluate(match.group(1), namespace)
        quote = _open_quote(text, match.start())
        pieces.append(text[last:match.start()])
        pieces.append(inside(value, quote) if quote else outside(value))
        last = match.end()
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


def _open_quote(text: str, position: int) -> str | None:
    """The quote character of the string literal open at ``position``, if any."""
    quote, escaped = None, False
    for char in text[:position]:
        if escaped:
            escaped = False
        elif char == "\\" and quote:
            escaped = True
        elif quote and char == quote:
            quote = None
        elif not quote and char in "\"'":
            quote = char
    return quote


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


def _json_in_string(value: Any, quote: str) -> str:
    return json.dumps(_text_of(value))[1:-1]


def _python_in_string(value: Any, quote: str) -> str:
    text = _text_of(value).replace("\\", "\\\\").replace(quote, "\\" + quote)
    return text.translate(_CONTROL_ESCAPES)


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


def _json_error(
    text: str, error: json.JSONDecodeError, offset: int, *, expanded: bool, also: str = ""
) -> CellInputError:
    lines = text.splitlines() or [""]
    line_text = lines[min(error.lineno, len(lines)) - 1]
    caret = " " * (error.colno - 1) + "^"
    where = f"line {error.lineno + offset} of the cell, column {error.colno}"
    nor = f", {also}" if also else ""
    after = " (after filling {{ }} placeholders)" if expanded and PLACEHOLDER.search(text) else ""
    message = (f"the cell starts like JSON but is not valid JSON{nor}: {error.msg} at "
               f"{where}{after}\n    {line_text}\n    {caret}")
    missing = bracket_problem(text, offset)
    if missing:
        message = f"{message}\n{missing}"
    return CellInputError(
        message,
        hint="fix the JSON (double quotes around keys and strings, commas between items), "
        "or add --format text to send the cell as text",
    )
