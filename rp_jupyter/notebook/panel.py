"""A job's panel in a cell: the live view, then the static rendering once the job is final,
with Cancel / Retry / Run again below it.

Two outputs, each with a display id: the panel itself (a widget while the job runs,
replaced through its display handle by the static bundle when it is final, so a saved
notebook keeps the result without any widget) and a small action bar (Cancel while the
job runs; Retry for FAILED and TIMED_OUT, "Run again" for the others).  Button clicks run
the request on a daemon thread and report failures in the bar instead of raising.
"""

from __future__ import annotations

from typing import Any

from rp_jupyter.notebook.job_view import JobView
from rp_jupyter.notebook.live_view import LiveView, widget_bundle
from rp_jupyter.notebook.markup import MUTED, esc, header_text
from rp_jupyter.notebook.static import static_bundle

__all__ = ["RETRYABLE", "JobPanel"]

RETRYABLE = ("FAILED", "TIMED_OUT")


class JobPanel(LiveView):
    """The live panel of one job (see the module docstring); shown by :meth:`show`."""

    def __init__(self, job: Any, *, read_as: str | None = None) -> None:
        import ipywidgets as widgets

        super().__init__()
        self.job = job
        self.read_as = read_as
        self.history = [job]  # every job this panel has shown (Run again adds one)
        self.view: JobView | None = None
        self._actions_handle: Any = None
        self.cancel_button = widgets.Button(
            description="Cancel",
            icon="stop",
            layout=widgets.Layout(width="auto"),
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
        self.cancel_button.on_click(lambda _button: self.act_on_job("cancel"))
        self.again_button.on_click(lambda _button: self.act_on_job("again"))

    def __repr__(self) -> str:
        return f"<JobPanel job={self.job.id} state={self.state}>"

    @property
    def note(self) -> str | None:
        return self.notes.get(None)

    # -- showing --------------------------------------------------------------------------

    def show(self) -> None:  # type: ignore[override]
        """Display the panel and its action bar in the current cell (call on the cell's
        thread); the ticker keeps it up to date from then on."""
        from IPython.display import display

        with self.lock:
            bundle, live = self._panel_bundle()
            super().show(bundle)
            self.state = "live" if live else "final"
            self._actions_handle = display(
                widget_bundle(self.actions, ""), raw=True, display_id=True
            )

    def _panel_bundle(self) -> tuple[dict[str, Any], bool]:
        if self.job.is_final:
            return self.final_bundle(), False
        self.view = JobView(self.job, read_as=self.read_as)
        return widget_bundle(self.view.box, header_text(self.job) + " (live panel)"), True

    def done(self) -> bool:
        return self.job.is_final

    def final_bundle(self) -> dict[str, Any]:
        return static_bundle(self.job, read_as=self.read_as)

    def widgets_to_close(self) -> list[Any]:
        view, self.view = self.view, None
        return view.close() if view is not None else []

    # -- the ticker -----------------------------------------------------------------------

    def refresh(self, now: float) -> bool:
        if self.view is not None:
            self.view.note = self.note
            self.view.refresh(self.budget, now)
        return self._refresh_actions(now)

    def refresh_final(self, now: float) -> bool:
        return self._refresh_actions(now)

    def _again_label(self) -> str:
        return "Retry" if str(self.job.status) in RETRYABLE else "Run again"

    def _refresh_actions(self, now: float) -> bool:
        """Bring the buttons up to date; True while something is still to send."""
        job, busy = self.job, bool(self.busy)
        note = f'<span style="{MUTED}">{esc(self.note)}</span>' if self.note else ""
        sent = [
            self.send(self.cancel_button, now, disabled=job.is_final or busy),
            self.send(self.again_button, now, disabled=not job.is_final or busy,
                      description=self._again_label()),
            self.send(self.note_html, now, value=note),
        ]
        return not all(sent)

    # -- buttons --------------------------------------------------------------------------

    def act_on_job(self, action: str) -> None:
        """Run ``"cancel"`` or ``"again"`` (Retry / Run again) off the UI path."""
        job = self.job
        if action == "cancel":
            self.act(None, "cancel", job.cancel, pending="cancelling…")
        elif str(job.status) in RETRYABLE:
            self.act(None, "retry", lambda: self._again(job, job.retry()), pending="retrying…")
        else:
            self.act(None, "run again", lambda: self._again(job, job.rerun()),
                     pending="submitting again…")

    def _again(self, job: Any, fresh: Any) -> str | None:
        with self.lock:
            self._go_live(fresh)
        return f"run again of job {job.id}" if fresh is not job else None

    def _go_live(self, job: Any) -> None:
        if job is not self.job:
            self.history.append(job)
        self.job = job
        self._closing.extend(self.widgets_to_close())
        bundle, live = self._panel_bundle()
        self.replace(bundle)
        self.state = "live" if live else "final"
