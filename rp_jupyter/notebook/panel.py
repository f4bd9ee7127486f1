"""A job's panel in a cell: the live view, then the static rendering once the job is final,
with Cancel / Retry / Run again below it.

Two outputs, each with a display id: the panel itself (a widget while the job runs,
replaced through its display handle by the static bundle when it is final, so a saved
notebook keeps the result without any widget) and a small action bar (Cancel while the
job runs; Retry for FAILED and TIMED_OUT, "Run again" for the others).  Button clicks run
the request on a daemon thread and report failures in the bar instead of raising.
"""

from __future__ import annotations

import threading
from typing import Any

from rp_jupyter.notebook.job_view import JobView, widget_bundle
from rp_jupyter.notebook.markup import MUTED, esc, failure_note, header_text
from rp_jupyter.notebook.static import static_bundle
from rp_jupyter.notebook.ticker import MessageBudget, ticker

__all__ = ["RETRYABLE", "JobPanel"]

RETRYABLE = ("FAILED", "TIMED_OUT")
CLOSES_PER_TICK = 2


class JobPanel:
    """The live panel of one job (see the module docstring); shown by :meth:`show`."""

    def __init__(self, job: Any, *, read_as: str | None = None) -> None:
        import ipywidgets as widgets

        self.job = job
        self.read_as = read_as
        self.history = [job]  # every job this panel has shown (Run again adds one)
        self.budget = MessageBudget()
        self.state = "new"  # "live" or "final" once shown
        self.note: str | None = None
        self.view: JobView | None = None
        self._busy: str | None = None
        self._closing: list[Any] = []
        self._lock = threading.RLock()
        self._panel_handle: Any = None
        self._actions_handle: Any = None
        auto = widgets.Layout(width="auto")
        self.cancel_button = widgets.Button(
            description="Cancel",
            icon="stop",
            layout=auto,
            tooltip="Cancel this job",
            disabled=job.is_final,
        )
        self.again_button = widgets.Button(
            description=self._again_label(),
            icon="redo",
            layout=widgets.Layout(width="auto"),
            disabled=not job.is_final,
        )
        self.note_html = widgets.HTML()
        self.actions = widgets.HBox([self.cancel_button, self.again_button, self.note_html])
        self.cancel_button.on_click(lambda _button: self.act("cancel"))
        self.again_button.on_click(lambda _button: self.act("again"))

    def __repr__(self) -> str:
        return f"<JobPanel job={self.job.id} state={self.state}>"

    # -- showing --------------------------------------------------------------------------

    def show(self) -> None:
        """Display the panel and its action bar in the current cell (call on the cell's
        thread); the ticker keeps it up to date from then on."""
        from IPython.display import display

        with self._lock:
            self._panel_handle = display(self._panel_bundle(), raw=True, display_id=True)
            self._actions_handle = display(
                widget_bundle(self.actions, ""), raw=True, display_id=True
            )
        ticker().add(self)

    def _panel_bundle(self) -> dict[str, Any]:
        if self.job.is_final:
            self.state = "final"
            return self._static()
        self.view = JobView(self.job, read_as=self.read_as)
        self.state = "live"
        return widget_bundle(self.view.box, header_text(self.job) + " (live panel)")

    def _static(self) -> dict[str, Any]:
        return static_bundle(self.job, read_as=self.read_as)

    def finish_now(self) -> None:
        """Replace the live view by the static rendering now if the job is final (the
        blocking path calls this so the cell ends with the final rendering in place)."""
        with self._lock:
            if self.state == "live" and self.job.is_final:
                self.budget.spend(1)
                self._to_static()

    def _to_static(self) -> None:
        self._panel_handle.update(self._static(), raw=True)
        self.state = "final"
        if self.view is not None:
            self._closing.extend(self.view.close())
            self.view = None

    # -- the ticker -----------------------------------------------------------------------

    def tick(self, now: float) -> bool:
        if not self._lock.acquire(blocking=False):
            return True
        try:
            if self.state == "live" and self.view is not None:
                if self.job.is_final:
                    if self.budget.take(now=now):
                        self._to_static()
                else:
                    self.view.note = self.note
                    self.view.refresh(self.budget, now)
            pending = self._refresh_actions(now)
            self._close_some(now)
            return self.state == "live" or pending or bool(self._closing) or bool(self._busy)
        finally:
            self._lock.release()

    def _again_label(self) -> str:
        return "Retry" if str(self.job.status) in RETRYABLE else "Run again"

    def _refresh_actions(self, now: float) -> bool:
        """Bring the buttons up to date; True while something is still to send."""
        job, busy = self.job, self._busy is not None
        wanted = [
            (self.cancel_button, {"disabled": job.is_final or busy}),
            (
                self.again_button,
                {"disabled": not job.is_final or busy, "description": self._again_label()},
            ),
            (
                self.note_html,
                {"value": (f'<span style="{MUTED}">{esc(self.note)}</span>' if self.note else "")},
            ),
        ]
        pending = False
        for widget, state in wanted:
            changed = {k: v for k, v in state.items() if getattr(widget, k) != v}
            if not changed:
                continue
            if not self.budget.take(now=now):
                pending = True
                continue
            with widget.hold_sync():
                for name, value in changed.items():
                    setattr(widget, name, value)
        return pending

    def _close_some(self, now: float) -> None:
        for _ in range(CLOSES_PER_TICK):
            if not self._closing or not self.budget.take(now=now):
                return
            self._closing.pop(0).close()

    # -- buttons --------------------------------------------------------------------------

    def act(self, action: str) -> None:
        """Run ``"cancel"`` or ``"again"`` (Retry / Run again) off the UI path."""
        with self._lock:
            if self._busy is not None:
                return
            if action == "cancel":
                self.note = "cancelling…"
            elif str(self.job.status) in RETRYABLE:
                self.note = "retrying…"
            else:
                self.note = "submitting again…"
            self._busy = action
        ticker().add(self)
        threading.Thread(
            target=self._run_action, args=(action,), name="rp_jupyter-action", daemon=True
        ).start()

    def _run_action(self, action: str) -> None:
        note = None
        job = self.job
        retry = action != "cancel" and str(job.status) in RETRYABLE
        label = "cancel" if action == "cancel" else "retry" if retry else "run again"
        try:
            if action == "cancel":
                job.cancel()
            else:
                fresh = job.retry() if retry else job.rerun()
                with self._lock:
                    self._go_live(fresh)
                    if fresh is not job:
                        note = f"run again of job {job.id}"
        except Exception as exc:  # shown in the bar: a click must never raise into the kernel
            note = failure_note(label, exc)
        finally:
            with self._lock:
                self._busy = None
                self.note = note
            ticker().add(self)

    def _go_live(self, job: Any) -> None:
        if job is not self.job:
            self.history.append(job)
        self.job = job
        if self.view is not None:
            self._closing.extend(self.view.close())
            self.view = None
        self.budget.spend(1)
        self._panel_handle.update(self._panel_bundle(), raw=True)
