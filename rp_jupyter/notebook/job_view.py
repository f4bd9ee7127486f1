"""The live view of one job: one HTML widget (header, clock, progress, streamed text or
newest item) and one Image widget (newest frame, at its natural size: never stretched to
the output's width, never wider than it), refreshed by the ticker.

Few widgets on purpose: each front-end update is one message, and a panel must stay under
about 20 a second whatever the chunk rate.  The job's subscriber only marks the view
dirty; :meth:`JobView.refresh` (called by the view's owner, on the ticker thread) does the
work within the owner's :class:`MessageBudget`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rp_jupyter.notebook.live_view import close_widgets
from rp_jupyter.notebook.markup import footer_html, header_html
from rp_jupyter.notebook.presentation import for_the_room
from rp_jupyter.notebook.static import static_html
from rp_jupyter.notebook.stream_state import StreamState
from rp_jupyter.notebook.ticker import MessageBudget

__all__ = ["JobView", "frame_layout"]


def frame_layout(widgets: Any) -> Any:
    """An Image widget's layout that keeps the picture at its natural size: a VBox would
    stretch it to the full width (its children default to ``align-self: stretch``)."""
    return widgets.Layout(display="none", align_self="flex-start", width="auto",
                          height="auto", max_width="100%")


class JobView:
    """One job shown live (see the module docstring).

    ``embedded`` views (inside a playground or the jobs table) show the final rendering in
    their own HTML widget; a standalone panel replaces the whole view instead.  ``on_dirty``
    is called (on the engine thread) when the job changes, for owners that leave the
    ticker while nothing happens.
    """

    def __init__(
        self,
        job: Any,
        *,
        read_as: str | None = None,
        embedded: bool = False,
        on_dirty: Callable[[], None] | None = None,
    ) -> None:
        import ipywidgets as widgets

        self.read_as = read_as
        self.embedded = embedded
        self.note: str | None = None
        self.stream = StreamState()
        self._on_dirty = on_dirty
        self.html = widgets.HTML()
        self.image = widgets.Image(format="png", layout=frame_layout(widgets))
        self.box = widgets.VBox([self.html, self.image])
        self._unsubscribe: Callable[[], None] | None = None
        self.job: Any = None
        self.bind(job)

    # -- binding --------------------------------------------------------------------------

    def bind(self, job: Any) -> None:
        """Show ``job`` from now on (a playground's next job, a rerun)."""
        self.unbind()
        self.job = job
        self.stream.reset(job.attempt)
        self._dirty = True
        self._stale = True
        self._clock = -1
        self._sent_frame = -1
        self._final_sent = False
        self._unsubscribe = job.subscribe(self._on_change)

    def unbind(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_change(self, job: Any, event: str) -> None:
        """Runs on the engine thread: only note that something changed."""
        if job is self.job:
            self._dirty = True
            if self._on_dirty is not None:
                self._on_dirty()

    @property
    def settled(self) -> bool:
        """True when the job is final and the view shows it (embedded) or need not."""
        return self.job.is_final and (self._final_sent or not self.embedded)

    # -- refreshing (owner's thread) ------------------------------------------------------

    def render_html(self) -> str:
        job = self.job
        if job.is_final and self.embedded:
            return static_html(job, read_as=self.read_as, note=self.note)[0]  # scaled there
        body = self.stream.html(frame=False, seconds=job.run_seconds)
        return for_the_room(header_html(job, note=self.note) + body + footer_html(job))

    def refresh(self, budget: MessageBudget, now: float | None = None) -> None:
        """Bring the widgets up to date, spending at most what ``budget`` allows."""
        job = self.job
        final = job.is_final  # read first: every chunk is in before a job turns final
        if self._dirty or final:
            self._dirty = False
            if self.stream.sync(job):
                self._stale = True
        second = int(time.time())
        if not final:
            self._final_sent = False  # a retry makes a final job live again
        if not final and second != self._clock:
            self._clock = second
            self._stale = True
        if final and not self._final_sent:
            self._stale = True
        if not self._stale:
            return
        if final and not self.embedded:
            self._stale = False  # the owner replaces the whole view
            return
        html = self.render_html()
        if html != self.html.value:
            if not budget.take(now=now):
                return
            self.html.value = html
        if final:
            if self.image.layout.display != "none":
                if not budget.take(now=now):
                    return
                self.image.layout.display = "none"  # the final rendering has the picture
            self._stale = False
            self._final_sent = True
            return
        self._stale = False
        self._refresh_frame(budget, now)

    def _refresh_frame(self, budget: MessageBudget, now: float | None) -> None:
        if self.stream.frame_index == self._sent_frame:
            return
        picture = self.stream.encoded_frame()
        if picture is None:
            self._sent_frame = self.stream.frame_index
            return
        hidden = self.image.layout.display == "none"
        if not budget.take(2 if hidden else 1, now=now):
            self._stale = True
            return
        with self.image.hold_sync():
            self.image.format = picture.format
            self.image.value = picture.data
        if hidden:
            self.image.layout.display = ""
        self._sent_frame = self.stream.frame_index

    def close(self) -> list[Any]:
        """Stop following the job; returns the widget models for the owner to close."""
        self.unbind()
        return close_widgets(self.box)
