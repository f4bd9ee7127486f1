"""Name a handler so a worker process can load it, and load it there.

Accepted forms: ``path/to/file.py[:name]``, ``module:name``, ``module`` (``name``
defaults to ``handler``), a bare example name (``echo``, ``tokens``, ``images``,
``chaos``), or a Python callable.  A callable importable as ``module:qualname`` is
loaded by name; one defined in ``__main__`` (a notebook cell) or inside a function can
only run in a fork-started worker, which inherits it.

Example::

    spec = HandlerSpec.of("tokens")   # target 'rp_jupyter.local.examples.tokens:handler'
    handler = spec.load()              # inside the worker process
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

EXAMPLES = ("echo", "tokens", "images", "chaos")
EXAMPLES_PACKAGE = "rp_jupyter.local.examples"


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

    def load(self) -> Callable[..., Any]:
        """Import the handler (in the worker process)."""
        if self.func is not None:
            return self.func
        assert self.target is not None
        return load_target(self.target)


def _split_path_target(text: str) -> tuple[str, str] | None:
    """``file.py[:name]`` -> (path, name), or ``None`` if ``text`` is not a file spec."""
    path, name = text, "handler"
    head, sep, tail = text.rpartition(":")
    if sep and head.endswith(".py") and tail.isidentifier():
        path, name = head, tail
    if path.endswith(".py"):
        return path, name
    return None


def _normalise_target(text: str) -> str:
    if text in EXAMPLES:
        return f"{EXAMPLES_PACKAGE}.{text}:handler"
    as_path = _split_path_target(text)
    if as_path is not None:
        path, name = as_path
        full = os.path.abspath(os.path.expanduser(path))
        if not os.path.isfile(full):
            raise ValueError(f"handler file not found: {path}")
        return f"{full}:{name}"
    module, _, name = text.partition(":")
    name = name or "handler"
    if not all(part.isidentifier() for part in module.split(".")):
        raise ValueError(f"not a handler spec: {text!r} (use file.py[:name], module:name, "
                         f"or one of {', '.join(EXAMPLES)})")
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ValueError(f"handler module not found: {module!r} (from {text!r})")
    return f"{module}:{name}"


def load_target(target: str) -> Callable[..., Any]:
    """Import ``file.py:name`` or ``module:qualname`` and return the callable."""
    return load_handler(target)[0]


def load_handler(target: str) -> tuple[Callable[..., Any], dict[str, Any]]:
    """Import the handler named by ``target``; also returns the worker config the module
    passed to ``runpod.serverless.start`` (empty if it did not call it).

    A runpod worker script calls ``runpod.serverless.start({"handler": ...})`` when it is
    imported; here that call only records its config, so such a script can be served
    unchanged (its ``handler`` is used when the target names no function it has).
    """
    as_path = _split_path_target(target)
    if as_path is not None:
        source, qualname = as_path[0], as_path[1]
    else:
        module_name, _, qualname = target.partition(":")
        qualname = qualname or "handler"
        found_spec = importlib.util.find_spec(module_name)
        source = getattr(found_spec, "origin", None) or ""
    started = _capture_runpod_start(source)
    if as_path is not None:
        module = _import_file(as_path[0])
    else:
        module = importlib.import_module(module_name)
    found: Any = module
    try:
        for part in qualname.split("."):
            found = getattr(found, part)
    except AttributeError:
        if not (started and qualname == "handler" and "handler" in started):
            raise
        found = started["handler"]
    if not callable(found):
        raise TypeError(f"{target} is not callable")
    return found, started


def _capture_runpod_start(source: str) -> dict[str, Any]:
    """If ``source`` calls ``serverless.start``, make that call record its config."""
    config: dict[str, Any] = {}
    try:
        with open(source, encoding="utf-8") as handle:
            if "serverless.start" not in handle.read():
                return config
    except (OSError, UnicodeDecodeError):
        return config
    try:
        import runpod.serverless
    except ImportError:
        return config

    def start(worker_config: dict[str, Any]) -> None:
        config.update(worker_config)

    runpod.serverless.start = start
    return config


def _import_file(path: str) -> Any:
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    stem = os.path.splitext(os.path.basename(path))[0]
    name = stem if stem.isidentifier() and stem not in sys.modules else "rp_local_handler"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def handler_kind(handler: Callable[..., Any]) -> str:
    """``"async_generator"``, ``"generator"``, ``"coroutine"`` or ``"function"``."""
    if inspect.isasyncgenfunction(handler):
        return "async_generator"
    if inspect.isgeneratorfunction(handler):
        return "generator"
    if inspect.iscoroutinefunction(handler):
        return "coroutine"
    return "function"
