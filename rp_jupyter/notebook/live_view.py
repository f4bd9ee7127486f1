"""The core every live panel builds on: shown once in a cell, refreshed by the ticker within
a message budget, acting off the kernel's thread, and replaced by a static rendering when
it is done, so a saved notebook holds no widget.

A panel (the job panel, a sweep's grid, the playground, the jobs table, the health panel)
subclasses :class:`LiveView` and writes :meth:`LiveView.refresh` (bring the widgets up to
date; True while something is still to send) and, if it ends, :meth:`LiveView.done` and
:meth:`LiveView.final_bundle`.  The rest is here, once:

- ``show``: display the widget bundle with a display id, in the running cell;
- ``tick``: the ticker's call, never blocking the ticker on a busy panel, closing the
  replaced widgets a few at a time;
- ``send``: set a widget's traits only when they changed and the budget allows;
- ``act``: a button's work on a daemon thread, a note while it runs, the outcome (or the
  failure, never an exception into the kernel) as the note afterwards;
- ``finish``: the static bundle in place of the widgets, through the display handle.

Engine-side callbacks only call :meth:`LiveView.wake`; the ticker thread is each panel's
one writer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from rp_jupyter.notebook.markup import failure_note
from rp_jupyter.notebook.ticker import MessageBudget, ticker

__all__ = ["WIDGET_VIEW", "LiveView", "close_widgets", "widget_bundle"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CLOSES_PER_TICK = 2


def widget_bundle(widget: Any, text: str) -> dict[str, Any]:
    """A display bundle showing ``widget``, with ``text`` for frontends without widgets."""
    return {
        WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id},
        "text/plain": text,
    }


def close_widgets(widget: Any) -> list[Any]:
    """``widget``, its children, layouts and styles: every model to close, leaves first."""
    found: list[Any] = []

    def walk(item: Any) -> None:
        for child in getattr(item, "children", ()) or ():
            walk(child)
        for part in ("layout", "style"):
            sub = getattr(item, part, None)
            if sub is not None and hasattr(sub, "close"):
                found.append(sub)
        found.append(item)

    walk(widget)
    return found


class LiveView:
    """A live panel in one cell (see the module docstring).

    Example::

        class Clock(LiveView):
            def __init__(self):
                super().__init__()
                self.html = widgets.HTML()

            def refresh(self, now):
                return not self.send(self.html, now, value=time.strftime("%X"))

        Clock().show(widget_bundle(clock.html, "a clock"))
    """

    def __init__(self) -> None:
        self.budget = MessageBudget()
        self.lock = threading.RLock()
        self.state = "new"  # "live" once shown, "final" once replaced by its static bundle
        self.notes: dict[Hashable, str | None] = {}  # per action slot: what the last click did
        self.busy: dict[Hashable, str] = {}  # action slot -> the action running there
        self._handle: Any = None
        self._closing: list[Any] = []

    # -- what a panel writes -----------------------------------------------------------

    def refresh(self, now: float) -> bool:
        """Bring the widgets up to date within the budget; True while more is to send."""
        raise NotImplementedError

    def done(self) -> bool:
        """True once the panel should turn static (the default: never)."""
        return False

    def final_bundle(self) -> dict[str, Any]:
        """The static rendering that replaces the widgets once :meth:`done`."""
        raise NotImplementedError

    def widgets_to_close(self) -> list[Any]:
        """The widget models the static rendering replaces."""
        return []

    # -- showing -----------------------------------------------------------------------

    def show(self, bundle: dict[str, Any]) -> None:
        """Display ``bundle`` in the running cell (call on the cell's thread) and start
        refreshing it."""
        from IPython.display import display

        with self.lock:
            self._handle = display(bundle, raw=True, display_id=True)
            self.state = "live"
        self.wake()

    def replace(self, bundle: dict[str, Any]) -> None:
        """Show ``bundle`` in this panel's place (a new live view, or the static one)."""
        self.budget.spend(1)
        self._handle.update(bundle, raw=True)

    def wake(self) -> None:
        """Something changed (any thread): refresh on the next tick."""
        ticker().add(self)

    # -- the ticker --------------------------------------------------------------------

    def tick(self, now: float) -> bool:
        """The ticker's call: refresh, turn static once done; False to leave the ticker."""
        if not self.lock.acquire(blocking=False):
            return True  # an action or the cell's thread holds it: try again next tick
        try:
            pending = False
            if self.state == "live":
                if self.done():
                    if self.budget.take(now=now):
                        self._to_static()
                    else:
                        pending = True
                else:
                    pending = self.refresh(now)
            elif self.state == "final":
                pending = self.refresh_final(now)
            self._close_some(now)
            live = self.state == "live" and self.keeps_ticking()
            return pending or live or bool(self._closing) or bool(self.busy)
        finally:
            self.lock.release()

    def keeps_ticking(self) -> bool:
        """True when a live panel needs ticks even when nothing is pending (a clock)."""
        return True

    def refresh_final(self, now: float) -> bool:
        """A static panel's chance to go live again (a job retried elsewhere)."""
        return False

    def send(self, widget: Any, now: float | None = None, **state: Any) -> bool:
        """Set ``state`` on ``widget`` where it differs, as one message, if the budget allows
        it; True when the widget shows ``state`` afterwards."""
        changed = {name: value for name, value in state.items()
                   if getattr(widget, name) != value}
        if not changed:
            return True
        if not self.budget.take(now=now):
            return False
        with widget.hold_sync():
            for name, value in changed.items():
                setattr(widget, name, value)
        return True

    def _close_some(self, now: float) -> None:
        for _ in range(CLOSES_PER_TICK):
            if not self._closing or not self.budget.take(now=now):
                return
            self._closing.pop(0).close()

    # -- turning static ----------------------------------------------------------------

    def finish_now(self) -> None:
        """Put the static rendering in place now if the panel is done (a blocking cell calls
        this so that it ends with the final rendering)."""
        with self.lock:
            if self.state == "live" and self.done():
                self.budget.spend(1)
                self._to_static()

    def _to_static(self) -> None:
        self._handle.update(self.final_bundle(), raw=True)
        self.state = "final"
        self._closing.extend(self.widgets_to_close())

    # -- buttons -----------------------------------------------------------------------

    def act(
        self,
        slot: Hashable,
        action: str,
        work: Callable[[], str | None],
        *,
        pending: str,
    ) -> bool:
        """Run ``work`` for a click off the kernel's thread: ``pending`` is the slot's note
        meanwhile, then what ``work`` returns, or ``"<action> failed: ..."``.  False when
        the slot is already busy (a double click)."""
        with self.lock:
            if slot in self.busy:
                return False
            self.busy[slot] = action
            self.notes[slot] = pending
        self.wake()
        threading.Thread(target=self._run_action, args=(slot, action, work), daemon=True,
                         name="rp_jupyter-action").start()
        return True

    def _run_action(self, slot: Hashable, action: str, work: Callable[[], str | None]) -> None:
        note = None
        try:
            note = work()
        except Exception as exc:  # shown in the panel: a click must never raise
            note = failure_note(action, exc)
        finally:
            with self.lock:
                self.busy.pop(slot, None)
                self.notes[slot] = note
            self.wake()
