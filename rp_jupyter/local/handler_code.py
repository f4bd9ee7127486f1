"""What code a handler runs, as one hash: edited code means another handler.

Two uses: ``%runpod local NAME`` restarts an endpoint whose handler was edited instead of
reusing it by name, and a local endpoint's ``cache_scope`` (so a result journaled for one
handler's code is never answered for another's).

- A handler named by file or module: the bytes of its source file.
- A function (a notebook cell's, run in a forked worker): its source, and the source of
  the functions and classes of its module that it uses, and the plain values (strings,
  numbers) it reads there, so editing a helper cell or a prompt constant counts too.

Example::

    >>> code_digest(HandlerSpec.of("echo")) == code_digest(HandlerSpec.of("echo"))
    True
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rp_jupyter.local.scripts import split_target

if TYPE_CHECKING:
    from rp_jupyter.local.handler_spec import HandlerSpec

__all__ = ["code_digest"]

#: how many functions, classes and values of a handler's module are followed at most
MAX_PARTS = 200
_PLAIN = (str, bytes, int, float, bool, type(None))


def code_digest(spec: HandlerSpec) -> str:
    """A SHA-256 of the code ``spec`` runs (see the module docstring)."""
    digest = hashlib.sha256(spec.label.encode("utf-8", "replace"))
    if spec.func is not None:
        for part in _function_parts(spec.func):
            digest.update(b"\0" + part)
    else:
        digest.update(b"\0" + _file_bytes(spec.target or ""))
    return digest.hexdigest()


def _file_bytes(target: str) -> bytes:
    source, _, is_file = split_target(target)
    path = source if is_file else _module_origin(source)
    if not path:
        return b"?"
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b"?"


def _module_origin(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.has_location else None


def _function_parts(func: Callable[..., Any]) -> list[bytes]:
    """The handler's source, then what of its module it uses (names in sorted order)."""
    module = getattr(func, "__module__", None)
    namespace = getattr(func, "__globals__", {})
    parts, seen, pending = [_source_of(func)], {id(func)}, [func]
    while pending and len(parts) < MAX_PARTS:
        current = pending.pop()
        for name in sorted(_names_used(current)):
            value = namespace.get(name, _missing) if isinstance(namespace, dict) else _missing
            if value is _missing or id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, _PLAIN):
                parts.append(f"{name}={value!r}".encode("utf-8", "replace")[:100_000])
            elif _defined_in(value, module):
                parts.append(name.encode() + b":" + _source_of(value))
                pending.append(value)
    return parts


_missing = object()


def _defined_in(value: Any, module: str | None) -> bool:
    return (isinstance(value, (types.FunctionType, type))
            and getattr(value, "__module__", None) == module)


def _names_used(value: Any) -> set[str]:
    """Global names read by a function's code (nested functions included), or by the
    methods of a class."""
    codes: list[types.CodeType] = []
    if isinstance(value, types.FunctionType):
        codes.append(value.__code__)
    elif isinstance(value, type):
        codes.extend(member.__code__ for member in vars(value).values()
                     if isinstance(member, types.FunctionType))
    names: set[str] = set()
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    return names


def _source_of(value: Any) -> bytes:
    """Source text when it can be found (a notebook cell's too), else the compiled code."""
    try:
        return inspect.getsource(value).encode("utf-8", "replace")
    except Exception:  # no file, a builtin, or source inspect cannot tokenize
        pass
    code = getattr(value, "__code__", None)
    if code is None:
        return repr(value).encode("utf-8", "replace")
    return _code_bytes(code)


def _code_bytes(code: types.CodeType) -> bytes:
    """Bytecode, constants and names: what a code object does, not where it was compiled."""
    parts = [code.co_code, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    for const in code.co_consts:
        parts.append(_code_bytes(const) if isinstance(const, types.CodeType)
                     else repr(const).encode("utf-8", "replace"))
    return b"\0".join(parts)
