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
from rp_jupyter.notebook.live_view import LiveView, cancel_unless_final
from rp_jupyter.notebook.markup import header_text
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
        self.cancel_button: Any = None
        self.note_html: Any = None
        self._unsubscribe: Callable[[], None] | None = None
        self._attempt = job.attempt  # the attempt on screen

    def __repr__(self) -> str:
        return f"<JobPanel job={self.job.id} state={self.state}>"

    # -- showing --------------------------------------------------------------------------

    def on_show(self) -> None:
        """On screen: it follows its job from then on."""
        self._attempt = self.job.attempt
        self._unsubscribe = self.job.subscribe(self._on_change)

    def _on_change(self, job: Any, event: str) -> None:
        """Engine thread: a retry makes a final panel live again."""
        if event == "retry" and self.state == "final":
            self.wake()

    def live_text(self) -> str:
        return header_text(self.job) + " (live panel)"

    def live_bundle(self) -> dict[str, Any]:
        import ipywidgets as widgets

        self.view = JobView(self.job, read_as=self.read_as)
        self.cancel_button = self.action_button("Cancel", self.cancel, icon="stop",
                                                tooltip="Cancel this job")
        self.note_html = self.note_widget()
        self.box = widgets.VBox([self.view.box,
                                 widgets.HBox([self.cancel_button, self.note_html])])
        return super().live_bundle()

    def done(self) -> bool:
        return self.job.is_final

    def final_bundle(self) -> dict[str, Any]:
        lines = [line for line in (self.note, next_step(self.job, self.name)) if line]
        return static_bundle(self.job, read_as=self.read_as, footnote=" · ".join(lines))

    def widgets_to_close(self) -> list[Any]:
        closing = super().widgets_to_close()
        self.view = self.box = None
        return closing

    def embedded_views(self) -> list[Any]:
        return [self.view] if self.view is not None else []

    # -- the ticker -----------------------------------------------------------------------

    def refresh(self, now: float) -> bool:
        if self.view is not None:
            self.view.note = self.note
        return not self.send_actions(now)

    def refresh_final(self, now: float) -> bool:
        if self.job.attempt == self._attempt:
            return False
        self._attempt = self.job.attempt  # retried: live again, for the new attempt
        live = not self.job.is_final
        self.notes.pop(None, None)
        self.replace(self.live_bundle() if live else self.final_bundle())
        self.state = "live" if live else "final"
        return True

    # -- the button -----------------------------------------------------------------------

    def cancel(self) -> bool:
        """Cancel the job as it is now, off the kernel's thread (False on a double click)."""
        return self.act(None, "cancel", lambda: cancel_unless_final(self.job),
                        pending="cancelling…")
