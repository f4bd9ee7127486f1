"""Name a handler so a worker process can load it.

Accepted forms: ``path/to/file.py[:name]``, ``module[:name]``, a bare example name
(``echo``, ``tokens``, ``images``, ``chaos``, ``llm``, ``imagegen``, ``transcribe``,
``embed``), or a Python callable.  A file or module that calls
``runpod.serverless.start`` is served the way the platform runs it, with the handler
and config it passes there (see :mod:`.scripts`); otherwise its ``handler`` (or the
named function) is served.  A callable importable as ``module:qualname`` is loaded by
name; one defined in ``__main__`` (a notebook cell) or inside a function can only run
in a fork-started worker, which inherits it.

Example::

    spec = HandlerSpec.of("tokens")   # target 'rp_jupyter.local.examples.tokens:handler'
    spec = HandlerSpec.of("worker.py")  # target '/abs/worker.py' (refused at once if it
                                        # has no handler and never calls start)
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rp_jupyter.local.scripts import EXAMPLES_PACKAGE, check_target, split_target

EXAMPLES = ("echo", "tokens", "images", "chaos", "llm", "imagegen", "transcribe", "embed")


@dataclass(frozen=True)
class HandlerSpec:
    """Where a handler comes from: an importable ``target`` string, or a ``func`` to fork."""

    target: str | None = None
    func: Callable[..., Any] | None = None

    @property
    def needs_fork(self) -> bool:
        return self.func is not None

    @property
    def label(self) -> str:
        if self.target is not None:
            return self.target
        func = self.func
        return f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', func)!s}"

    @classmethod
    def of(cls, handler: str | Callable[..., Any] | HandlerSpec) -> HandlerSpec:
        """Resolve what a user gave; raises ``ValueError`` when it cannot be found."""
        if isinstance(handler, HandlerSpec):
            return handler
        if callable(handler):
            return cls._of_callable(handler)
        if not isinstance(handler, str) or not handler.strip():
            raise ValueError(f"handler must be a spec string or a callable, not {handler!r}")
        return cls(target=_normalise_target(handler.strip()))

    @classmethod
    def _of_callable(cls, func: Callable[..., Any]) -> HandlerSpec:
        module = getattr(func, "__module__", None)
        qualname = getattr(func, "__qualname__", None)
        if module and qualname and module != "__main__" and "<locals>" not in qualname:
            found: Any = sys.modules.get(module)
            for part in qualname.split("."):
                found = getattr(found, part, None)
            if found is func:
                return cls(target=f"{module}:{qualname}")
        return cls(func=func)

def _normalise_target(text: str) -> str:
    if text in EXAMPLES:
        return f"{EXAMPLES_PACKAGE}.{text}:handler"
    source, name, is_file = split_target(text)
    if is_file:
        full = os.path.abspath(os.path.expanduser(source))
        if not os.path.isfile(full):
            raise ValueError(f"handler file not found: {source}")
        target = f"{full}:{name}" if name else full
    else:
        if not all(part.isidentifier() for part in source.split(".")):
            raise ValueError(f"not a handler spec: {text!r} (use file.py[:name], module:name, "
                             f"or one of {', '.join(EXAMPLES)})")
        try:
            found = importlib.util.find_spec(source)
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise ValueError(f"handler module not found: {source!r} (from {text!r})")
        target = f"{source}:{name}" if name else source
    check_target(target)
    return target


def handler_kind(handler: Callable[..., Any]) -> str:
    """``"async_generator"``, ``"generator"``, ``"coroutine"`` or ``"function"``."""
    if inspect.isasyncgenfunction(handler):
        return "async_generator"
    if inspect.isgeneratorfunction(handler):
        return "generator"
    if inspect.iscoroutinefunction(handler):
        return "coroutine"
    return "function"
