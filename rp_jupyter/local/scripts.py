"""Serve a runpod worker script unchanged: find its handler and the config it passes to
``runpod.serverless.start``, wherever that call is.

Two halves.  :func:`inspect_source` runs in the server process when an endpoint is added:
it parses the script (never runs it) to say whether it calls ``start`` and which names it
binds, so a script that cannot be served is refused at once with a clear message.
:func:`serve_target` runs in the worker process: a script that calls ``start`` is run the
way the platform runs it (``python worker.py``, as ``__main__``), with ``start`` replaced
by the local worker's job loop, so the call may sit at module level or inside ``main()``
under ``if __name__ == "__main__"``, and the handler may have any name.  A script that
does not call ``start`` is imported and its ``handler`` (or the named function) served.

Example::

    facts = inspect_source("worker.py")      # ScriptFacts(calls_start=True, ...)
    serve_target("/abs/worker.py", serve)     # in a worker: serve(handler, config) -> code
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rp_jupyter.local.load_failures import (
    describe_failure,
    details_of,
    display_name,
    stderr_tail,
)

#: Our example handlers are imported by name (their ``__main__`` block, which starts a real
#: runpod worker, is for ``python -m``); they declare their start() keys in WORKER_CONFIG.
EXAMPLES_PACKAGE = "rp_jupyter.local.examples"

Serve = Callable[[Callable[..., Any], dict[str, Any]], int]


class LoadFailure(Exception):
    """A worker could not load its handler; the message says why and what to do, and
    ``details`` keeps the traceback (for the server's records, never shown by default)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class HandlerLoadError(RuntimeError, ValueError):
    """Raised where an endpoint is started when its workers cannot load the handler; the
    message says why and what to do (no traceback)."""


class _StartRefused(BaseException):
    """Raised from the replaced ``start`` (a BaseException, so a script's ``except
    Exception`` cannot swallow it); turned into a :class:`LoadFailure`."""


@dataclass(frozen=True)
class ScriptFacts:
    """What parsing a handler's source tells, without running it."""

    calls_start: bool
    names: frozenset[str]
    dynamic_names: bool

    def binds(self, name: str) -> bool:
        """Whether ``name`` may exist at module level once the source has run."""
        return self.dynamic_names or name in self.names


def inspect_source(path: str) -> ScriptFacts:
    """Parse ``path``; raises ``ValueError`` with a clear message if it cannot be read."""
    shown = display_name(path)
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read(), filename=path)
    except SyntaxError as err:
        raise ValueError(f"{shown} has a syntax error at line {err.lineno}: {err.msg}; "
                         "fix it and start again") from None
    except OSError as err:
        raise ValueError(f"cannot read {shown}: {err.strerror or err}") from None
    except ValueError as err:  # e.g. null bytes
        raise ValueError(f"{shown} is not a Python source file: {err}") from None
    start_aliases = _start_aliases(tree)
    calls_start = any(isinstance(node, ast.Call) and _is_start(node.func, start_aliases)
                      for node in ast.walk(tree))
    names: set[str] = set()
    dynamic = _module_names(tree.body, names)
    return ScriptFacts(calls_start, frozenset(names), dynamic)


def _start_aliases(tree: ast.Module) -> set[str]:
    """Names bound by ``from runpod.serverless import start [as x]``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "runpod.serverless":
            found.update(a.asname or a.name for a in node.names if a.name == "start")
    return found


def _is_start(func: ast.expr, aliases: set[str]) -> bool:
    if isinstance(func, ast.Name):
        return func.id in aliases
    if not (isinstance(func, ast.Attribute) and func.attr == "start"):
        return False
    owner = func.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "serverless") or \
        (isinstance(owner, ast.Name) and owner.id == "serverless")


def _module_names(body: list[ast.stmt], names: set[str]) -> bool:
    """Collect names bound at module level (also inside top-level if/try/with blocks);
    returns True when names may be made dynamically (``import *``, ``globals()``)."""
    dynamic = False
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    dynamic = True
                else:
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        for child in ("body", "orelse", "finalbody", "handlers"):
            block = getattr(node, child, None)
            if isinstance(block, list) and not isinstance(
                    node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = [b for b in block if isinstance(b, ast.stmt)]
                for handler in block:
                    if isinstance(handler, ast.ExceptHandler):
                        inner.extend(handler.body)
                dynamic |= _module_names(inner, names)
        if "globals" in {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} and \
                not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            dynamic = True
    return dynamic


def split_target(target: str) -> tuple[str, str | None, bool]:
    """``file.py[:name]`` or ``module[:name]`` -> (path or module, name or None, is_file)."""
    head, sep, tail = target.rpartition(":")
    if sep and tail.isidentifier() and (head.endswith(".py") or
                                        all(p.isidentifier() for p in head.split("."))):
        source, name = head, tail
    else:
        source, name = target, None
    return source, name, source.endswith(".py")


def module_origin(module: str) -> str | None:
    """The source file of an importable module, or ``None``."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = getattr(found, "origin", None)
    return origin if origin and origin.endswith(".py") else None


def check_target(target: str) -> None:
    """Refuse, with a message saying what to do, a target that can never be served."""
    source, name, is_file = split_target(target)
    path = source if is_file else module_origin(source)
    if path is None or source.startswith(EXAMPLES_PACKAGE + "."):
        return
    facts = inspect_source(path)
    wanted = name or "handler"
    if facts.calls_start or facts.binds(wanted):
        return
    shown = display_name(path) if is_file else source
    if name:
        raise ValueError(f"{shown} has no function {name!r}; check the name after the colon")
    raise ValueError(f"{shown} has no function 'handler' and does not call "
                     f"runpod.serverless.start(...): name its handler as {shown}:NAME")


def check_runpod_worker(target: str | None) -> None:
    """Refuse what cannot run as it is, ``python worker.py``, as a runpod-python worker."""
    if target is None:
        raise ValueError("a runpod worker runs a script or module as it is: give a file or "
                         "module, not a function")
    source, name, is_file = split_target(target)
    if name not in (None, "handler"):
        raise ValueError(f"a runpod worker runs {display_name(source) if is_file else source} "
                         f"as it is, so it cannot pick the handler {name!r}: leave out "
                         f"':{name}'")
    path = source if is_file else module_origin(source)
    if path is not None and not inspect_source(path).calls_start:
        shown = display_name(path) if is_file else source
        raise ValueError(f"{shown} never calls runpod.serverless.start, so it cannot run as "
                         "a runpod worker: serve it without the runpod-worker option")


# -- in the worker process ---------------------------------------------------------------


def serve_target(target: str, serve: Serve) -> int:
    """Load the handler named by ``target`` and call ``serve(handler, config)``.

    Raises :class:`LoadFailure` when it cannot be loaded; returns ``serve``'s exit code.
    """
    source, name, is_file = split_target(target)
    path = os.path.abspath(source) if is_file else module_origin(source)
    shown = display_name(path) if is_file and path else source
    example = not is_file and source.startswith(EXAMPLES_PACKAGE + ".")
    if path is not None and not example:
        try:
            facts = inspect_source(path)
        except ValueError as err:
            raise LoadFailure(str(err)) from None
        if facts.calls_start:
            return _run_as_main(source, path, shown, name, is_file, serve)
    module = _import(source, path, shown, is_file)
    wanted = name or "handler"
    handler = getattr(module, wanted, None)
    if not callable(handler):
        raise LoadFailure(f"{shown} has no function {wanted!r}")
    config = getattr(module, "WORKER_CONFIG", None)
    return serve(handler, dict(config) if isinstance(config, dict) else {})


def _import(source: str, path: str | None, shown: str, is_file: bool) -> Any:
    with stderr_tail() as tail:
        try:
            if is_file:
                assert path is not None
                return _import_file(path)
            return importlib.import_module(source)
        except BaseException as err:
            raise LoadFailure(describe_failure(err, path, shown, tail())) from None


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


def _run_as_main(source: str, path: str, shown: str, name: str | None, is_file: bool,
                 serve: Serve) -> int:
    """Run the script as ``__main__`` with ``runpod.serverless.start`` serving its jobs."""
    try:
        import runpod.serverless
    except ImportError as err:
        raise LoadFailure(f"{shown} calls runpod.serverless.start, but runpod cannot be "
                          f"imported here ({err}): install it with 'pip install runpod'"
                          ) from None
    started: dict[str, Any] = {}

    with stderr_tail() as tail:

        def start(config: dict[str, Any]) -> None:
            caller = sys._getframe(1).f_globals
            handler = caller.get(name) if name else (config or {}).get("handler")
            if not callable(handler):
                what = f"function {name!r}" if name else "'handler' in its start() config"
                raise _StartRefused(f"{shown} has no {what}")
            started["config"] = config
            tail.stop()
            raise SystemExit(serve(handler, dict(config or {})))

        runpod.serverless.start = start
        if is_file:
            directory = os.path.dirname(path)
            if directory not in sys.path:
                sys.path.insert(0, directory)
        argv = sys.argv
        sys.argv = [path]
        try:
            if is_file:
                namespace = runpy.run_path(path, run_name="__main__")
            else:
                namespace = runpy.run_module(source, run_name="__main__", alter_sys=True)
        except _StartRefused as refused:
            raise LoadFailure(str(refused)) from None
        except SystemExit as done:
            if "config" in started:
                return done.code if isinstance(done.code, int) else 0
            raise LoadFailure(describe_failure(done, path, shown, tail()),
                              details_of(done)) from None
        except BaseException as err:
            if "config" in started:
                raise
            raise LoadFailure(describe_failure(err, path, shown, tail()),
                              details_of(err)) from None
        finally:
            sys.argv = argv
    handler = namespace.get(name or "handler")
    if callable(handler):
        return serve(handler, {})
    raise LoadFailure(f"{shown} ran to its end without calling runpod.serverless.start "
                      f"(is the call inside a function nothing calls?) and has no function "
                      f"{name or 'handler'!r}")
