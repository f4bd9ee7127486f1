"""Remember what was already shown in the running cell, so that a magic that presents a job
(or a sweep, a playground) and also returns it does not show it twice.

Cells are counted with IPython's ``pre_run_cell`` event; the count is hooked into a shell
the first time anything is presented there.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["mark_presented", "on_next_cell", "presented_in_this_cell", "unhook"]

_cells = itertools.count(1)
_current = 0
_marks: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_hooked: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
# per shell: called once, when that shell's next cell starts
_waiting: weakref.WeakKeyDictionary[Any, list[Callable[[], None]]] = weakref.WeakKeyDictionary()


def _next_cell(*_info: Any) -> None:
    global _current
    _current = next(_cells)
    shell = _shell()
    with _lock:
        due = _waiting.pop(shell, []) if shell is not None else []
    for callback in due:
        callback()


def on_next_cell(callback: Callable[[], None]) -> None:
    """Call ``callback`` once, when the next cell of the running shell starts (a live table
    turns into its static view then)."""
    shell = _shell()
    if shell is None:
        return
    hook(shell)
    with _lock:
        _waiting.setdefault(shell, []).append(callback)


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    return get_ipython()


def hook(shell: Any) -> None:
    """Count ``shell``'s cells (idempotent)."""
    if shell is None:
        return
    with _lock:
        if shell in _hooked:
            return
        shell.events.register("pre_run_cell", _next_cell)
        _hooked.add(shell)


def unhook(shell: Any) -> None:
    with _lock:
        if shell in _hooked:
            try:
                shell.events.unregister("pre_run_cell", _next_cell)
            except ValueError:
                pass
            _hooked.discard(shell)


def mark_presented(obj: Any) -> None:
    """Note that ``obj`` has been shown in the running cell."""
    hook(_shell())
    _marks[obj] = _current


def presented_in_this_cell(obj: Any) -> bool:
    return _marks.get(obj) == _current
