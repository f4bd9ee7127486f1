"""Why a handler could not load, in one sentence without a traceback: the exception and
the script's line, the code it exited with, or what it last wrote to stderr.

Example: ``describe_failure(KeyError("MODEL"), "/w/worker.py", "worker.py", "")`` gives
``"worker.py raised KeyError: 'MODEL' (line 5) while loading; fix the script ..."``.
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STDERR_TAIL = 2000


def display_name(source: str) -> str:
    """A short name for messages: the path relative to the working directory if it is
    inside it, else the file name."""
    try:
        relative = os.path.relpath(source)
    except ValueError:
        relative = source
    return relative if not relative.startswith("..") else os.path.basename(source)


def details_of(err: BaseException) -> str:
    return "".join(traceback.format_exception(type(err), err, err.__traceback__))


def describe_failure(err: BaseException, path: str | None, shown: str, said: str) -> str:
    """One clear sentence for an exception raised while a handler loaded (no traceback)."""
    last_words = f"; it last wrote: {said}" if said else ""
    if isinstance(err, SystemExit):
        code = err.code if err.code is not None else 0
        reason = f"exited (sys.exit({code!r}))" if not isinstance(code, int) else \
            f"exited with code {code}"
        return (f"{shown} {reason} while loading, before it called "
                f"runpod.serverless.start{last_words}")
    if isinstance(err, ModuleNotFoundError) and err.name:
        return (f"{shown} imports {err.name!r}, which is not installed in this Python "
                f"({sys.executable}): install it, or serve the script where it is installed")
    where = _where(err, path)
    text = str(err) if not isinstance(err, SyntaxError) else err.msg
    return (f"{shown} raised {type(err).__name__}: {text}{where} while loading"
            f"{last_words}; fix the script (or set what it needs in the environment) and "
            "start again")


def _where(err: BaseException, path: str | None) -> str:
    if isinstance(err, SyntaxError) and err.filename:
        return f" ({display_name(err.filename)}, line {err.lineno})"
    frames = traceback.extract_tb(err.__traceback__)
    script_dir = os.path.dirname(path) if path else None
    for frame in reversed(frames):
        if path and os.path.abspath(frame.filename) == path:
            return f" (line {frame.lineno})"
    for frame in reversed(frames):
        if script_dir and os.path.abspath(frame.filename).startswith(script_dir + os.sep):
            return f" ({display_name(frame.filename)}, line {frame.lineno})"
    return ""


class _Tail(io.TextIOBase):
    """Writes through to the real stderr and keeps the last characters written."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.text = ""
        self.active = True

    def write(self, text: str) -> int:
        if self.active:
            self.text = (self.text + text)[-STDERR_TAIL:]
        return self.target.write(text)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


class _TailHandle:
    def __init__(self, tail: _Tail) -> None:
        self._tail = tail

    def __call__(self) -> str:
        return " ".join(self._tail.text.split())[-STDERR_TAIL:]

    def stop(self) -> None:
        self._tail.active = False
        if sys.stderr is self._tail:
            sys.stderr = self._tail.target


@contextmanager
def stderr_tail() -> Iterator[_TailHandle]:
    """Keep what the script writes to stderr while it loads, for the failure message."""
    tail = _Tail(sys.stderr)
    sys.stderr = tail
    handle = _TailHandle(tail)
    try:
        yield handle
    finally:
        handle.stop()
