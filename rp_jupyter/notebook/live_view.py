"""The core every live panel builds on: shown once in a cell, refreshed by the ticker within
a message budget, acting off the kernel's thread, and replaced by a static rendering when
it is done, so a saved notebook holds no widget.

A panel (the job panel, a chat reply, a sweep's grid, the playground, the jobs table, the
health panel) subclasses :class:`LiveView`, puts its widgets in ``box`` and writes
:meth:`LiveView.refresh` (bring the widgets up to date; True while something is still to
send), :meth:`LiveView.live_text` and, if it ends, :meth:`LiveView.done` and
:meth:`LiveView.final_bundle`.  The rest is here, once:

- ``show``: display the live widgets (or, when already done, the static bundle) with a
  display id, in the running cell, once per cell;
- ``tick``: the ticker's call, never blocking the ticker on a busy panel, refreshing the
  job views embedded in the panel, closing the replaced widgets a few at a time;
- ``send``: set a widget's traits only when they changed and the budget allows;
- ``act``: a button's work on a daemon thread, a note while it runs, the outcome (or the
  failure, never an exception into the kernel) as the note afterwards; ``action_button``
  and ``note_widget`` make the button and the note, ``send_actions`` keeps them current;
- ``finish``: the static bundle in place of the widgets, through the display handle.

Engine-side callbacks only call :meth:`LiveView.wake`; the ticker thread is each panel's
one writer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from rp_jupyter.notebook.markup import MUTED, esc, failure_note
from rp_jupyter.notebook.ticker import MessageBudget, ticker

__all__ = ["WIDGET_VIEW", "LiveView", "cancel_unless_final", "close_widgets", "note_html",
           "widget_bundle"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CLOSES_PER_TICK = 2


def widget_bundle(widget: Any, text: str) -> dict[str, Any]:
    """A display bundle showing ``widget``, with ``text`` for frontends without widgets."""
    return {
        WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id},
        "text/plain": text,
    }


def note_html(note: str | None) -> str:
    """A panel's note (what the last click did) as the HTML of its note widget."""
    return f'<span style="{MUTED}">{esc(note)}</span>' if note else ""


def cancel_unless_final(job: Any, what: str = "job") -> str | None:
    """Cancel ``job`` as it is now (a Cancel button's work): a note when it had already
    ended, nothing to say otherwise."""
    if job.is_final:
        return f"the {what} was already {job.status}: nothing to cancel"
    job.cancel()
    return None


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
        self.box: Any = None  # the panel's widgets, as shown while it is live
        self._handle: Any = None
        self._closing: list[Any] = []
        self._buttons: dict[str, Any] = {}  # description -> the panel's own button
        self._note_html: Any = None

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

    def live_text(self) -> str:
        """The text/plain stand-in of the live widgets (for frontends without widgets)."""
        return "runpod live panel"

    def live_bundle(self) -> dict[str, Any]:
        """The live rendering :meth:`show` displays: ``box`` (built here if a panel builds
        its widgets late)."""
        return widget_bundle(self.box, self.live_text())

    def embedded_views(self) -> list[Any]:
        """The job views inside the panel (a playground's job, the job the jobs table
        opened): refreshed within the panel's budget on each tick, unbound at the end."""
        return []

    def widgets_to_close(self) -> list[Any]:
        """The widget models the static rendering replaces (default: all of ``box``)."""
        for view in self.embedded_views():
            view.unbind()
        return close_widgets(self.box) if self.box is not None else []

    # -- showing -----------------------------------------------------------------------

    def show(self, bundle: dict[str, Any] | None = None) -> None:
        """Display the panel in the running cell (call on the cell's thread) and start
        refreshing it: ``bundle``, else the live widgets, or the static bundle when the
        panel is done already."""
        from IPython.display import display

        from rp_jupyter.notebook.presented import mark_presented

        mark_presented(self)
        with self.lock:
            final = bundle is None and self.done()
            if bundle is None:
                bundle = self.final_bundle() if final else self.live_bundle()
            self._handle = display(bundle, raw=True, display_id=True)
            self.state = "final" if final else "live"
            self.on_show()
        self.wake()

    def on_show(self) -> None:
        """Called once the panel is on screen, under its lock (start following here)."""

    def _ipython_display_(self) -> None:
        """A panel that is a cell's value shows itself (once, whatever else shows it)."""
        from rp_jupyter.notebook.presented import presented_in_this_cell

        if not presented_in_this_cell(self):
            self.show()

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
                    for view in self.embedded_views():
                        view.refresh(self.budget, now)
                        pending = pending or not view.settled
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

    @property
    def note(self) -> str | None:
        """What the panel's own button (slot ``None``) last did, or is doing."""
        return self.notes.get(None)

    def action_button(self, description: str, click: Callable[[], Any], *,
                      tooltip: str = "", icon: str = "") -> Any:
        """A button calling ``click`` (which acts through :meth:`act` in slot ``None``),
        disabled while that action runs; :meth:`send_actions` keeps it so."""
        import ipywidgets as widgets

        button = widgets.Button(description=description, icon=icon, tooltip=tooltip,
                                layout=widgets.Layout(width="auto"))
        button.on_click(lambda _button: click())
        self._buttons[description] = button
        return button

    def note_widget(self) -> Any:
        """The widget showing the panel's :attr:`note`; :meth:`send_actions` fills it."""
        import ipywidgets as widgets

        self._note_html = widgets.HTML()
        return self._note_html

    def send_actions(self, now: float) -> bool:
        """Bring the note and the buttons of :meth:`action_button` up to date; True when
        all of it was sent."""
        sent = True
        for button in self._buttons.values():
            sent = self.send(button, now, disabled=None in self.busy) and sent
        if self._note_html is not None:
            sent = self.send(self._note_html, now, value=note_html(self.note)) and sent
        return sent

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
