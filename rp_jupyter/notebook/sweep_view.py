"""How a sweep is shown: a live grid of mini-panels (one small HTML widget per job, or one
compact grid for big sweeps), a static table once every job is final, and text lines in
terminals.  The grid spends one :class:`MessageBudget` for all its widgets.
"""

from __future__ import annotations

import time
from typing import Any

from rp_jupyter.api.models import JobStatus
from rp_jupyter.notebook.live_view import LiveView, cancel_unless_final
from rp_jupyter.notebook.markup import (
    FONT,
    MONO,
    MUTED,
    STATUS_COLOURS,
    badge,
    esc,
    progress_html,
    short_id,
)
from rp_jupyter.notebook.panel_parts import parts
from rp_jupyter.notebook.presentation import for_the_room, presenting
from rp_jupyter.notebook.previews import plain_preview, preview_html, text_html
from rp_jupyter.notebook.stream_state import StreamState

__all__ = [
    "SweepGrid",
    "present_as_text",
    "present_headless",
    "static_sweep_bundle",
    "wait_for_sweep",
]

CELL_WIDGETS_MAX = 36  # above this, one compact grid instead of a widget per job
COMPACT_EVERY = 0.25  # seconds between refreshes of the compact grid
COMPACT_ROW = 50  # dots per line of the compact grid; a change resends only its line
HEADER_EVERY = 1.0  # seconds between refreshes of the header's notes (what it costs so far)
HEADLESS_UPDATE_SECONDS = 1.0
CANCEL_GRACE_SECONDS = 5.0
CELL = (
    "border:1px solid #d1d5db;border-radius:6px;padding:4px 6px;width:220px;"
    "min-height:64px;box-sizing:border-box"
)
UNSENT = ("SUBMITTING", "NOT_SUBMITTED")
LABEL = ("font-weight:600;font-size:12px;white-space:nowrap;overflow:hidden;"
         "text-overflow:ellipsis")


def settled(status: str) -> bool:
    """True for a status a combination ends in (a final job's, or never submitted)."""
    return status == "NOT_SUBMITTED" or JobStatus.parse(status).is_final


def _signature(item: Any) -> tuple[Any, ...]:
    job = item.job
    if job is None:
        return (item.status,)
    return (str(job.status), job.chunk_count, job.attempt, job.tracking_error is not None)


def cell_html(item: Any, stream: StreamState | None, thumbs: dict[int, tuple[Any, str]],
              status: str | None = None) -> str:
    """One card: the combination, its status badge (``status``, read once by the caller so
    the header can count the same), job id, time and a preview."""
    job = item.job
    status = status if status is not None else item.status
    ident = (
        f'<span style="{MONO};{MUTED}" title="{esc(job.id)}">{esc(short_id(job.id))}</span>'
        if job is not None
        else ""
    )
    took = (
        f' <span style="{MUTED}">{job.elapsed:.1f} s</span>'
        if job is not None and settled(status)
        else ""
    )
    if presenting():
        ident = took = ""
    return for_the_room(
        f'<div style="{CELL};{FONT}"><div style="{LABEL}" title="{esc(item.label)}">'
        f"{esc(item.label)}</div><div>{badge(status)} {ident}{took}</div>"
        f"{preview_html(item, stream, thumbs)}</div>"
    )


def header_html(sweep: Any, note: str | None = None,
                statuses: list[str] | None = None, notes: list[str] | None = None) -> str:
    """The sweep's title, counts per status and progress bar.  ``statuses`` are the ones
    the cards show (the grid passes them, so header and cards agree at every instant);
    by default, each item's status now.  ``notes`` are the features' notes (default: asked
    now)."""
    total = len(sweep.items)
    shown = statuses if statuses is not None else [item.status for item in sweep.items]
    done = sum(settled(status) for status in shown)
    submitted = sum(status not in UNSENT for status in shown)
    names = " × ".join(sweep.items[0].params) if sweep.items else ""
    tally: dict[str, int] = {}
    for status in shown:
        tally[status] = tally.get(status, 0) + 1
    counts = " ".join(f"{badge(status)} {count}" for status, count in tally.items())
    extra = [f"submitted {submitted}/{total}"] if submitted < total and not sweep.cancelled else []
    if sweep.cancelled and not sweep.done:
        extra.append("cancelling…")
    if note:
        extra.append(note)
    extra += parts.sweep_notes(sweep) if notes is None else notes
    extras = "".join(f' · <span style="{MUTED}">{esc(e)}</span>' for e in extra)
    return for_the_room(
        f'<div style="{FONT}"><b>Sweep</b> · {total} jobs on '
        f"<b>{esc(sweep.endpoint.endpoint_id)}</b> · {esc(names)}{extras}"
        f'<div style="margin:2px 0">{counts}</div>'
        f"{progress_html(done / total if total else 1.0, f'{done}/{total} done')}</div>"
    )


class SweepGrid(LiveView):
    """The live grid of one sweep in one cell (a card per job, each with its own Cancel);
    replaced by the static table when done.  The header counts the statuses the cards
    show, so the two never disagree."""

    def __init__(self, sweep: Any) -> None:
        import ipywidgets as widgets

        super().__init__()
        self.sweep = sweep
        self._compact = len(sweep.items) > CELL_WIDGETS_MAX
        self._signatures: list[Any] = [None] * len(sweep.items)
        self._dirty: dict[int, None] = {}
        self._streams = [StreamState() for _ in sweep.items] if not self._compact else []
        self._thumbs: dict[int, tuple[Any, str]] = {}
        self._compact_at = 0.0
        self.shown = [item.status for item in sweep.items]  # what the cards say now
        self.header = widgets.HTML(header_html(sweep, statuses=self.shown))
        self.cancel_button = self.action_button("Cancel all", self._cancel, icon="stop")
        self.card_buttons: list[Any] = []
        self._header_at = 0.0
        self._notes: list[str] = []  # the header's notes, asked at most every HEADER_EVERY
        if self._compact:
            flat = widgets.Layout(margin="0", min_height="0")
            self.cells = [widgets.HTML(compact_html(sweep, self.shown, start), layout=flat)
                          for start in range(0, len(sweep.items), COMPACT_ROW)]
            # the dots' style, once, in a widget never updated: a line's update restyles
            # only that line, never the page
            style = widgets.HTML(DOT_STYLE, layout=widgets.Layout(display="none"))
            grid = widgets.VBox([style, *self.cells], layout=widgets.Layout(margin="2px 0"))
        else:
            self.cells = [widgets.HTML(cell_html(item, None, self._thumbs)) for item in sweep.items]
            cards = []
            for index, cell in enumerate(self.cells):
                button = widgets.Button(description="Cancel", icon="stop",
                                        tooltip=f"Cancel {sweep.items[index].label}",
                                        layout=widgets.Layout(width="auto"))
                button.on_click(lambda _button, i=index: self.cancel_one(i))
                self.card_buttons.append(button)
                cards.append(widgets.VBox([cell, button],
                                          layout=widgets.Layout(align_items="flex-start")))
            grid = widgets.Box(
                cards, layout=widgets.Layout(display="flex", flex_flow="row wrap",
                                             grid_gap="6px")
            )
        self.box = widgets.VBox([widgets.HBox([self.header, self.cancel_button]), grid])

    def live_text(self) -> str:
        return f"runpod sweep: {len(self.sweep.items)} jobs (live grid)"

    def _cancel(self) -> None:
        self.act(None, "cancel", self.sweep.cancel, pending="cancelling…")

    def cancel_one(self, index: int) -> bool:
        """Cancel one combination's job as it is now (False on a double click)."""
        item = self.sweep.items[index]

        def work() -> str | None:
            job = item.job
            if job is None:
                item.skipped = True  # not submitted yet: it never will be
                return None
            return cancel_unless_final(job)

        return self.act(index, "cancel", work, pending="cancelling…")

    def done(self) -> bool:
        return self.sweep.done

    def final_bundle(self) -> dict[str, Any]:
        return static_sweep_bundle(self.sweep)

    def refresh(self, now: float) -> bool:
        for index, item in enumerate(self.sweep.items):
            signature = _signature(item)
            if signature != self._signatures[index]:
                self._signatures[index] = signature
                self._dirty[index] = None
        before = len(self._dirty)
        pending = self._refresh_compact(now) if self._compact else self._refresh_cards(now)
        # the header right after the cards, in the same tick (a token was kept for it);
        # otherwise now and then, for what it says besides the counts (cost so far)
        notes_due = now - self._header_at >= HEADER_EVERY
        if notes_due:  # a cost note over every job is the header's dear part
            self._header_at = now
            self._notes = parts.sweep_notes(self.sweep)
        if notes_due or len(self._dirty) < before:
            self.send(self.header, now, value=header_html(self.sweep, statuses=self.shown,
                                                           notes=self._notes))
        for index, button in enumerate(self.card_buttons):
            unsettled = not settled(self.shown[index])
            self.send(button, now, disabled=not unsettled or index in self.busy)
        return not self.send_actions(now) or pending

    def wake(self) -> None:
        self._header_at = 0.0  # a click: the header says so at once
        super().wake()

    def _refresh_compact(self, now: float) -> bool:
        """Resend only the lines of dots holding a changed status."""
        if not self._dirty or now - self._compact_at < COMPACT_EVERY:
            return bool(self._dirty)
        items = self.sweep.items
        for line in sorted({index // COMPACT_ROW for index in self._dirty}):
            if self.budget.available(now) < 2:  # room for the header too, in this tick
                return True
            start = line * COMPACT_ROW
            end = min(len(items), start + COMPACT_ROW)
            statuses = [item.status for item in items[start:end]]
            shown = self.shown[:start] + statuses + self.shown[end:]
            if not self.send(self.cells[line], now, value=compact_html(self.sweep, shown, start)):
                return True
            self.shown = shown
            for index in range(start, end):
                self._dirty.pop(index, None)
        self._compact_at = now
        return False

    def _refresh_cards(self, now: float) -> bool:
        for index in list(self._dirty):
            item = self.sweep.items[index]
            stream = self._streams[index]
            if item.job is not None and not item.job.is_final:
                stream.sync(item.job)
            status = item.status
            if self.budget.available(now) < 2:  # room for the header too, in this tick
                return True
            if not self.send(self.cells[index], now,
                             value=cell_html(item, stream, self._thumbs, status)):
                return True
            self.shown[index] = status
            del self._dirty[index]
        return False


DOTS = "rp-jupyter-dots"
DOT_STYLE = (f"<style>.{DOTS}>i{{display:inline-block;width:12px;height:12px;margin:1px;"
             "border-radius:2px}</style>")


def compact_html(sweep: Any, statuses: list[str] | None = None, start: int = 0) -> str:
    """One line of the compact grid: the dots of items ``start`` to ``start +
    COMPACT_ROW`` (``statuses`` are every item's, as the grid shows them), styled by
    :data:`DOT_STYLE`, shown once beside them."""
    shown = statuses if statuses is not None else [item.status for item in sweep.items]
    end = min(len(sweep.items), start + COMPACT_ROW)
    dots = "".join(
        f'<i title="{esc(sweep.items[index].label)}: {esc(shown[index])}" '
        f'style="background:{STATUS_COLOURS.get(shown[index], "#d1d5db")}"></i>'
        for index in range(start, end)
    )
    return f'<div class="{DOTS}" style="line-height:0">{dots}</div>'


# -- static and text renderings ---------------------------------------------------------


def static_sweep_bundle(sweep: Any) -> dict[str, Any]:
    """The sweep as a table: text/plain and text/html (thumbnails for small image sweeps)."""
    names = list(sweep.items[0].params) if sweep.items else []
    thumbs: dict[int, tuple[Any, str]] = {}
    small = len(sweep.items) <= CELL_WIDGETS_MAX
    head = "".join(f"<th>{esc(n)}</th>" for n in [*names, "status", "time", "output", "job"])
    rows, lines = [], []
    widths = [max(len(n), 6) for n in names]
    for item in sweep.items:
        job = item.job
        took = f"{job.elapsed:.1f} s" if job is not None and job.is_final else ""
        preview = preview_html(item, None, thumbs) if small else text_html(plain_preview(item))
        ident = (
            f'<span style="{MONO}" title="{esc(job.id)}">{esc(short_id(job.id))}</span>'
            if job is not None
            else ""
        )
        cells = "".join(f"<td>{esc(item.params[n])}</td>" for n in names)
        rows.append(
            f"<tr>{cells}<td>{badge(item.status)}</td><td>{took}</td>"
            f'<td style="max-width:420px;text-align:left">{preview}</td><td>{ident}</td></tr>'
        )
        values = [str(item.params[n]).ljust(w) for n, w in zip(names, widths, strict=True)]
        lines.append(
            "  ".join([*values, item.status.ljust(13), took.ljust(8), plain_preview(item)[:60]])
        )
    title = header_html(sweep)
    html = (
        f'<div style="{FONT}">{title}<table style="border-collapse:collapse;margin-top:4px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    header = "  ".join(
        [
            *(n.ljust(w) for n, w in zip(names, widths, strict=True)),
            "STATUS".ljust(13),
            "TIME".ljust(8),
            "OUTPUT",
        ]
    )
    counts = ", ".join(f"{count} {status}" for status, count in sweep.counts().items())
    notes = "".join(f" · {note}" for note in parts.sweep_notes(sweep))
    plain = (
        f"runpod sweep: {len(sweep.items)} jobs on {sweep.endpoint.endpoint_id} "
        f"({counts}){notes}\n" + "\n".join([header, *lines])
    )
    return {"text/plain": plain, "text/html": html}


def wait_for_sweep(sweep: Any, *, on_poll: Any, on_stop: Any, poll_every: float = 0.1) -> None:
    """Block until the sweep is done; Ctrl-C cancels it and raises ``JobInterrupted``."""
    try:
        while not sweep.done:
            pending = next(
                (i.job for i in sweep.items if i.job is not None and not i.job.is_final), None
            )
            if pending is not None:
                pending.wait(poll_every)
            else:
                try:
                    sweep._submission.result(poll_every)
                except Exception:
                    pass
            if on_poll is not None:
                on_poll()
    except KeyboardInterrupt:
        running = [job for job in sweep.jobs if not job.is_final]
        sweep.cancel()
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        for job in running:
            job.wait(max(0.0, deadline - time.monotonic()))
        if on_stop is not None:
            on_stop()
        from rp_jupyter.notebook.usage import JobInterrupted

        raise JobInterrupted(
            f"Interrupted: cancelled the sweep ({len(running)} running jobs) on endpoint "
            f"{sweep.endpoint.endpoint_id}"
        ) from None


def present_headless(sweep: Any) -> None:
    from IPython.display import display

    handle = display(static_sweep_bundle(sweep), raw=True, display_id=True)
    state = {"at": time.monotonic()}

    def update() -> None:
        if time.monotonic() - state["at"] >= HEADLESS_UPDATE_SECONDS:
            state["at"] = time.monotonic()
            handle.update(static_sweep_bundle(sweep), raw=True)

    def final() -> None:
        handle.update(static_sweep_bundle(sweep), raw=True)

    wait_for_sweep(sweep, on_poll=update, on_stop=final)
    final()


def present_as_text(sweep: Any) -> None:
    total = len(sweep.items)
    names = " × ".join(sweep.items[0].params) if sweep.items else ""
    notes = "".join(f" · {note}" for note in parts.sweep_notes(sweep))
    print(f"runpod: sweep of {total} jobs on {sweep.endpoint.endpoint_id} ({names}){notes}",
          flush=True)
    reported: set[int] = set()

    def report() -> None:
        for item in sweep.items:
            if item.settled and item.index not in reported:
                reported.add(item.index)
                took = f" {item.job.elapsed:.1f} s" if item.job is not None else ""
                preview = plain_preview(item)[:80]
                print(
                    f"  [{len(reported)}/{total}] {item.label}: {item.status}{took}"
                    + (f" · {preview}" if preview else ""),
                    flush=True,
                )

    wait_for_sweep(sweep, on_poll=report, on_stop=report)
    report()
    counts = ", ".join(f"{count} {status}" for status, count in sweep.counts().items())
    notes = "".join(f" · {note}" for note in parts.sweep_notes(sweep))
    print(f"runpod: sweep done: {counts}{notes}", flush=True)
