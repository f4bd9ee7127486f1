"""A playground: controls for some input parameters and the job they produce, live.

Controls follow ``ipywidgets.interact``'s conventions: ``(min, max, step)`` → a slider (int
or float), a list → a dropdown, a string → a text box, a bool → a checkbox (or pass any
value widget).  A change is debounced, cancels the job in flight and submits a new one with
``cache="use"``, so a parameter set seen before is answered from the journal at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from rp_jupyter.notebook.context import display_mode
from rp_jupyter.notebook.live_view import LiveView
from rp_jupyter.notebook.markup import FONT, esc, failure_note
from rp_jupyter.notebook.presented import mark_presented
from rp_jupyter.notebook.sweep_inputs import as_endpoint, with_params

__all__ = ["Playground", "playground"]


def _lookup(template: Mapping[str, Any], dotted: str) -> Any:
    from ipywidgets.widgets.interaction import empty

    node: Any = template
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return empty
        node = node[part]
    return node


def make_control(name: str, spec: Any, default: Any) -> Any:
    """An interact-style widget for ``spec``, starting at ``default`` when it fits."""
    from ipywidgets.widgets.interaction import interactive

    widget = interactive.widget_from_abbrev(spec, default)
    if widget is None or not hasattr(widget, "observe"):
        raise TypeError(
            f"cannot make a control for {name}={spec!r}: use (min, max, step), "
            "a list of choices, a string, a bool or a widget"
        )
    widget.description = name
    widget.style = {"description_width": "initial"}
    return widget


class Playground(LiveView):
    """Controls plus the live view of the latest job (see :func:`playground`)."""

    def __init__(
        self,
        endpoint: Any,
        input_template: Mapping[str, Any],
        controls: Mapping[str, Any],
        *,
        debounce: float = 0.3,
        run_options: Mapping[str, Any] | None = None,
    ) -> None:
        import ipywidgets as widgets

        super().__init__()
        self.endpoint = endpoint
        self.template = dict(input_template)
        self.debounce = debounce
        self.run_options = dict(run_options or {})
        self.controls = {
            name: make_control(name, spec, _lookup(self.template, name))
            for name, spec in controls.items()
        }
        self.job: Any = None
        self.jobs: list[Any] = []  # every job submitted or answered, in order
        self.closed = False
        self.view: Any = None
        self._changes = threading.Condition()
        self._changed_at: float | None = None
        self._slot = widgets.VBox([])
        self.box = widgets.VBox(
            [widgets.VBox(list(self.controls.values())), self.note_widget(), self._slot]
        )
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self._worker: threading.Thread | None = None
        self._shown = False

    def __repr__(self) -> str:
        return f"<Playground {self.endpoint.endpoint_id!r} {self.values()}>"

    # -- parameters --------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The controls' current values."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def input(self) -> dict[str, Any]:
        """The input the current values make."""
        return with_params(self.template, self.values())

    def _on_change(self, _change: Any) -> None:
        """A control moved (shell or subshell thread): restart the debounce clock."""
        with self._changes:
            self._changed_at = time.monotonic()
            self._changes.notify_all()

    # -- running -----------------------------------------------------------------------

    def start(self, *, live: bool = True) -> Playground:
        """Submit the first job; in live mode also start following the controls."""
        self.submit()
        if live:
            self._worker = threading.Thread(
                target=self._follow_controls, daemon=True, name="rp_jupyter-playground"
            )
            self._worker.start()
        return self

    def _follow_controls(self) -> None:
        while True:
            with self._changes:
                while not self.closed and self._changed_at is None:
                    self._changes.wait()
                while not self.closed and self._changed_at is not None:
                    quiet = time.monotonic() - self._changed_at
                    if quiet >= self.debounce:
                        break
                    self._changes.wait(self.debounce - quiet)
                if self.closed:
                    return
                self._changed_at = None
            self.submit()

    def submit(self) -> Any:
        """Cancel the job in flight and run the current input (from the journal when this
        parameter set was seen before).  Errors are shown, not raised."""
        previous = self.job
        note = None
        if previous is not None and not previous.is_final:
            try:
                previous.cancel()
            except Exception as exc:
                note = failure_note(f"cancelling the previous {self.sends[0]}", exc)
        try:
            job = self._request()
        except Exception as exc:
            self._set_note(failure_note(self.sends[1], exc))
            return None
        with self.lock:
            self.job = job
            self.jobs.append(job)
            self.notes[None] = note
            self._attach_view()
        self.wake()
        return job

    #: what a change sends, and the verb a failure to send it is said with
    sends = ("job", "submit")

    def _request(self) -> Any:
        """Send the current values (answered from the journal when seen before)."""
        return self.endpoint.run(self.input, cache="use", **self.run_options)

    def _attach_view(self) -> None:
        """Show the current job in the view (once the playground is on screen)."""
        from rp_jupyter.notebook.job_view import JobView

        if not self._shown or self.job is None:
            return
        if self.view is None:
            self.view = JobView(self.job, embedded=True, on_dirty=self.wake)
            self._slot.children = [self.view.box]
        elif self.view.job is not self.job:
            self.view.bind(self.job)

    def _set_note(self, note: str | None) -> None:
        with self.lock:
            self.notes[None] = note
        self.wake()

    def keeps_ticking(self) -> bool:
        return False

    def refresh(self, now: float) -> bool:
        return not self.closed and not self.send_actions(now)

    def embedded_views(self) -> list[Any]:
        return [] if self.closed or self.view is None else [self.view]

    def done(self) -> bool:
        return self.closed and (self.job is None or self.job.is_final)

    def final_bundle(self) -> dict[str, Any]:
        """The values the controls had and the last job's static rendering."""
        from rp_jupyter.notebook.static import static_bundle

        values = ", ".join(f"{name}={value!r}" for name, value in self.values().items())
        title = f"playground on {self.endpoint.endpoint_id}: {values}"
        bundle = {"text/plain": title,
                  "text/html": f'<div style="{FONT}"><b>{esc(title)}</b></div>'}
        if self.job is not None:
            shown = static_bundle(self.job)
            bundle["text/plain"] += "\n" + shown["text/plain"]
            bundle["text/html"] += shown["text/html"]
        return bundle

    def close(self) -> None:
        """Stop following the controls; the cell then keeps the values and the last result
        as static text and HTML (a saved notebook holds no widget)."""
        with self._changes:
            self.closed = True
            self._changes.notify_all()
        with self.lock:
            if self.view is not None:
                self.view.unbind()
        self.wake()

    # -- showing -----------------------------------------------------------------------

    def live_text(self) -> str:
        return f"runpod playground on {self.endpoint.endpoint_id} (live controls)"

    def live_bundle(self) -> dict[str, Any]:
        self._shown = True
        self._attach_view()
        return super().live_bundle()


def playground(
    endpoint: Any,
    input_template: Mapping[str, Any] | None = None,
    *,
    chat: Any = None,
    debounce: float = 0.3,
    run_options: Mapping[str, Any] | None = None,
    **controls: Any,
) -> Playground:
    """Controls for some input parameters, and the job they produce, live.

    Keys may be dotted (``**{"options.temperature": (0.0, 1.0, 0.1)}``) to set nested
    input keys.  Outside a live notebook, runs the template once and shows the result.
    ``chat=`` (a :class:`~rp_jupyter.Chat`, messages or a question) tunes a chat instead:
    the controls set request parameters and the newest replies stand side by side (see
    :func:`~rp_jupyter.notebook.chat_tuning.chat_playground`).

    Example::

        rp_jupyter.playground("my-endpoint", {"prompt": "Write a haiku"},
                              temperature=(0.0, 1.0, 0.1), seed=[1, 2, 3])
        rp_jupyter.playground("llm", chat="Write a haiku", temperature=(0.0, 2.0, 0.1))
    """
    from IPython import get_ipython

    from rp_jupyter.notebook.display import present_job

    if chat is not None:
        from rp_jupyter.notebook.chat_tuning import chat_playground

        return chat_playground(endpoint, chat, debounce=debounce, **controls)
    if input_template is None:
        raise TypeError("playground() needs an input template (or chat=...)")

    ep = as_endpoint(endpoint)
    board = Playground(ep, input_template, controls, debounce=debounce, run_options=run_options)
    return start_board(board, display_mode(get_ipython()), present_job)


def start_board(board: Playground, mode: str, present: Callable[..., None]) -> Playground:
    """Start ``board`` in the running cell: live controls in a live notebook; elsewhere its
    first job only, shown by ``present`` (blocking)."""
    if mode != "live":
        board.start(live=False)
        mark_presented(board)
        if board.job is not None:
            present(board.job, mode=mode, block=True)
        else:
            print(f"runpod playground: {board.note}")
        return board
    board.start(live=True)
    board.show()
    return board
