"""A job's panel in a cell: the live view with a Cancel button while the job runs, then the
static rendering once it is final.

One output with a display id.  While the job runs it is a widget (header, clock, streamed
output, Cancel); once the job is final the whole of it, button row included, is replaced
by the static bundle, and a plain-text line stands where the buttons were, saying how to
retry it or run it again.  A saved notebook so holds no widget at all.

The panel follows its job: when the job is retried from anywhere (``%runpod retry``,
``job.retry()``, the jobs table), the panel goes live again and ends with the new attempt.
A click acts on the job as it is at that moment (a job that ended meanwhile is not
cancelled twice); its work runs on a daemon thread and a failure is shown, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rp_jupyter.notebook.job_view import JobView
from rp_jupyter.notebook.live_view import LiveView, close_widgets, widget_bundle
from rp_jupyter.notebook.markup import MUTED, esc, header_text
from rp_jupyter.notebook.static import static_bundle
from rp_jupyter.wire_rules import RETRYABLE_STATUSES

__all__ = ["JobPanel", "next_step"]


def next_step(job: Any, name: str | None = None) -> str:
    """What a reader can do with a final job, said as the magic to type."""
    from rp_jupyter.notebook.presentation import presenting

    ref = name or ("JOB" if presenting() else job.id)
    if str(job.status) in RETRYABLE_STATUSES:
        return f"retry it (same job id): %runpod retry {ref} · a new job: %runpod rerun {ref}"
    return f"run it again as a new job: %runpod rerun {ref}"


class JobPanel(LiveView):
    """The panel of one job (see the module docstring); shown by :meth:`show`.

    ``name`` is the variable the cell bound the job to (``-o NAME``), used in the line
    that says how to retry it.
    """

    def __init__(self, job: Any, *, read_as: str | None = None, name: str | None = None) -> None:
        super().__init__()
        self.job = job
        self.read_as = read_as
        self.name = name
        self.view: JobView | None = None
        self.box: Any = None
        self.cancel_button: Any = None
        self.note_html: Any = None
        self._unsubscribe: Callable[[], None] | None = None
        self._attempt = job.attempt  # the attempt on screen

    def __repr__(self) -> str:
        return f"<JobPanel job={self.job.id} state={self.state}>"

    @property
    def note(self) -> str | None:
        return self.notes.get(None)

    # -- showing --------------------------------------------------------------------------

    def show(self) -> None:  # type: ignore[override]
        """Display the panel in the current cell (call on the cell's thread); it follows
        its job from then on."""
        with self.lock:
            bundle, live = self._bundle()
            super().show(bundle)
            self.state = "live" if live else "final"
            self._unsubscribe = self.job.subscribe(self._on_change)

    def _on_change(self, job: Any, event: str) -> None:
        """Engine thread: a retry makes a final panel live again."""
        if event == "retry" and self.state == "final":
            self.wake()

    def _bundle(self) -> tuple[dict[str, Any], bool]:
        self._attempt = self.job.attempt
        if self.job.is_final:
            return self.final_bundle(), False
        self._build_live()
        return widget_bundle(self.box, header_text(self.job) + " (live panel)"), True

    def _build_live(self) -> None:
        import ipywidgets as widgets

        self.view = JobView(self.job, read_as=self.read_as)
        self.cancel_button = widgets.Button(description="Cancel", icon="stop",
                                            layout=widgets.Layout(width="auto"),
                                            tooltip="Cancel this job")
        self.cancel_button.on_click(lambda _button: self.cancel())
        self.note_html = widgets.HTML()
        actions = widgets.HBox([self.cancel_button, self.note_html])
        self.box = widgets.VBox([self.view.box, actions])

    def done(self) -> bool:
        return self.job.is_final

    def final_bundle(self) -> dict[str, Any]:
        lines = [line for line in (self.note, next_step(self.job, self.name)) if line]
        return static_bundle(self.job, read_as=self.read_as, footnote=" · ".join(lines))

    def widgets_to_close(self) -> list[Any]:
        view, box = self.view, self.box
        self.view = self.box = None
        if view is not None:
            view.unbind()
        return close_widgets(box) if box is not None else []

    # -- the ticker -----------------------------------------------------------------------

    def refresh(self, now: float) -> bool:
        if self.view is None:
            return False
        self.view.note = self.note
        self.view.refresh(self.budget, now)
        note = f'<span style="{MUTED}">{esc(self.note)}</span>' if self.note else ""
        sent = self.send(self.cancel_button, now, disabled=bool(self.busy))
        return not (self.send(self.note_html, now, value=note) and sent)

    def refresh_final(self, now: float) -> bool:
        if self.job.attempt == self._attempt:
            return False
        bundle, live = self._bundle()  # retried: live again, for the new attempt
        self.notes.pop(None, None)
        self.replace(bundle)
        self.state = "live" if live else "final"
        return True

    # -- the button -----------------------------------------------------------------------

    def cancel(self) -> bool:
        """Cancel the job as it is now, off the kernel's thread (False on a double click)."""
        return self.act(None, "cancel", self._cancel_now, pending="cancelling…")

    def _cancel_now(self) -> str | None:
        job = self.job
        if job.is_final:
            return f"the job was already {job.status}: nothing to cancel"
        job.cancel()
        return None
