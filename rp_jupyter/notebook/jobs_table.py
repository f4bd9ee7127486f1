"""``%runpod jobs``: the journal's jobs as a table with status, times and an output preview;
in a live notebook each row has Cancel (unfinished jobs), Retry (FAILED, TIMED_OUT) and
Open (shows that job's panel below the table).

The live table is a snapshot of its moment: when the next cell runs (and nothing it
started is still going), it turns into its static text and HTML view, so a saved
notebook holds the table and no widget.  Badges are never cut; long text ends in an
ellipsis before the row's buttons; in a terminal the table fits the terminal's width.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rp_jupyter import formats
from rp_jupyter.formats.reading import STREAM_PREVIEW_CHUNKS
from rp_jupyter.notebook.job_view import JobView
from rp_jupyter.notebook.live_view import LiveView
from rp_jupyter.notebook.markup import FONT, MONO, MUTED, badge, esc, short_id
from rp_jupyter.notebook.panel_parts import parts
from rp_jupyter.notebook.presentation import for_the_room, presenting
from rp_jupyter.notebook.presented import on_next_cell
from rp_jupyter.notebook.previews import output_line
from rp_jupyter.notebook.static import error_summary, error_text, static_bundle
from rp_jupyter.wire_rules import RETRYABLE_STATUSES

__all__ = ["JobsTable", "show_jobs_table", "static_jobs_bundle"]

PREVIEW_CHARS = 80
COLUMNS = (  # the last column takes whatever width is left
    ("job", "8em"),
    ("endpoint", "7em"),
    ("status", "9.5em"),  # the widest badge, SUBMIT_FAILED, whole
    ("created", "6.5em"),
    ("queue", "4em"),
    ("run", "4em"),
    ("output", "auto"),
)
PRESENTING_HIDES = ("job", "queue", "run")
ROW_STYLE = ("display:flex;align-items:center;white-space:nowrap;overflow:hidden;width:100%;"
             "min-width:0;max-width:100%")


def columns(records: Sequence[Any] = ()) -> list[tuple[str, str]]:
    """The table's columns with the ones features add (before the output column); while
    presenting, without the job id and the timings.  A column a feature adds is left out of
    a table of ``records`` when none of them has anything to show in it and all are final
    (nothing can fill it later): the output column keeps the room."""
    added = [(column.name, column.width) for column in parts.columns
             if _needed(column, records)]
    shown = [*COLUMNS[:-1], *added, COLUMNS[-1]]
    if presenting():
        shown = [(name, width) for name, width in shown if name not in PRESENTING_HIDES]
    return shown


def _needed(column: Any, records: Sequence[Any]) -> bool:
    if not records or not all(record.final for record in records):
        return True
    return any(column.cell(record, None) for record in records)


def _static_cell(row: dict[str, str], name: str) -> str:
    style = "padding:1px 6px;text-align:left;white-space:nowrap"
    if name == "output":  # long text ends in an ellipsis; the whole of it on hover
        style += ";max-width:40em;overflow:hidden;text-overflow:ellipsis"
        return f'<td style="{style}" title="{esc(row[name])}">{esc(row[name])}</td>'
    inner = badge(row[name]) if name == "status" else esc(row[name])
    return f'<td style="{style}">{inner}</td>'


def _cell_style(width: str) -> str:
    size = "flex:1 1 0;width:0;min-width:0" if width == "auto" else f"flex:0 0 {width}"
    return f"{size};overflow:hidden;white-space:nowrap;text-overflow:ellipsis;padding-right:.5em"


def _when(at: float | None) -> str:
    if not at:
        return ""
    local = time.localtime(at)
    same_day = time.strftime("%Y%m%d", local) == time.strftime("%Y%m%d")
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", local)


def _ms(value: int | None) -> str:
    return "" if value is None else f"{value / 1000:.1f} s"


def _preview(record: Any) -> str:
    if record.status in ("MAYBE_ACCEPTED", "LOST") and record.note:
        return record.note if len(record.note) <= PREVIEW_CHARS else (
            record.note[:PREVIEW_CHARS] + "…")
    if record.status in ("FAILED", "TIMED_OUT", "CANCELLED", "EXPIRED", "SUBMIT_FAILED"):
        if record.error is not None:
            return error_text(record.error)
        return record.note or ""
    text = (record.output_preview or "").replace("\n", " ")
    if text in ("", "[]", "null") and record.chunk_count:
        text = _streamed_preview(record)
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def _streamed_preview(record: Any) -> str:
    """A streaming job's output is its chunks: a reply's or a text stream's text."""
    if record.chunk_count > STREAM_PREVIEW_CHUNKS:
        return f"({record.chunk_count} chunks)"
    return formats.stream_preview(record.chunks())


def _job_preview(job: Any) -> str:
    """The output (or error) of a job an action has attached, once it is final."""
    if not job.is_final:
        return ""
    text = error_summary(job) if str(job.status) != "COMPLETED" else output_line(job)
    text = text.replace("\n", " ")
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def _fields(record: Any, job: Any = None) -> dict[str, str]:
    """The row's cells, from the live job when an action has attached one."""
    status = str(job.status) if job is not None else record.status
    delay = job.delay_ms if job is not None else record.delay_ms
    execution = job.execution_ms if job is not None else record.execution_ms
    return {
        "job": record.job_id or f"(unsent #{record.key})",
        "endpoint": record.endpoint_id,
        "status": status,
        "created": _when(record.created_at),
        "queue": _ms(delay),
        "run": _ms(execution),
        **parts.cells(record, job),
        "output": _preview(record) if job is None else _job_preview(job),
    }


def _row_html(fields: dict[str, str], shown: list[tuple[str, str]],
              note: str | None = None) -> str:
    cells = []
    for name, width in shown:
        value = fields[name]
        if name == "status":
            inner = badge(value)
        elif name == "job":
            inner = f'<span style="{MONO}" title="{esc(value)}">{esc(short_id(value))}</span>'
        else:
            inner = esc(value)
        title = f' title="{esc(value)}"' if name == "output" else ""
        cells.append(f'<span style="{_cell_style(width)}"{title}>{inner}</span>')
    extra = (f'<span style="{MUTED};font-style:italic;flex:0 0 auto">{esc(note)}</span>'
             if note else "")
    return for_the_room(f'<div style="{FONT};{ROW_STYLE}">{"".join(cells)}{extra}</div>')


def _text_lines(names: list[str], rows: list[dict[str, str]]) -> list[str]:
    widths = {n: max(len(n), *(len(row[n]) for row in rows)) for n in names if n != "output"}
    lines = ["  ".join(n.upper().ljust(widths.get(n, 0)) for n in names).rstrip()]
    for row in rows:
        lines.append(
            "  ".join(row[n].ljust(widths.get(n, 0)) if n != "output" else row[n] for n in names)
        )
    return lines


def static_jobs_bundle(records: Sequence[Any], *, width: int | None = None,
                       note: str | None = None,
                       fields: Sequence[dict[str, str]] | None = None) -> dict[str, Any]:
    """The table as text/plain and text/html (for terminals and saved notebooks).

    ``width`` cuts each text line to that many columns (a terminal's width); ``fields`` are
    the rows' cells as the live table shows them (from the jobs its actions attached).
    """
    if not records:
        return {
            "text/plain": "no jobs in the journal",
            "text/html": f'<div style="{FONT};{MUTED}">no jobs in the journal</div>',
        }
    names = [name for name, _ in columns(records)]
    rows = list(fields) if fields is not None else [_fields(record) for record in records]
    lines = _text_lines(names, rows)
    if width and "job" in names and max(map(len, lines)) > width:
        # a narrow terminal shows the ids' first 8 characters (%runpod result takes a prefix)
        lines = _text_lines(names, [{**row, "job": row["job"][:8]} for row in rows])
    if width:
        lines = [line if len(line) <= width else line[: max(1, width - 1)] + "…"
                 for line in lines]
    head = "".join(f'<th style="text-align:left;padding:1px 6px">{n}</th>' for n in names)
    body = "".join(
        "<tr>" + "".join(_static_cell(row, n) for n in names) + "</tr>" for row in rows
    )
    html = (
        f'<table style="{FONT};border-collapse:collapse"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
    if note:
        html += f'<div style="{FONT};{MUTED}">{esc(note)}</div>'
        lines.append(note)
    return {"text/plain": "\n".join(lines), "text/html": for_the_room(html)}


class _Row:
    """One row of the live table: its record (read once: a journal record never changes),
    the job an action attached, and what its widgets were last rendered from, so a tick
    rebuilds only the rows whose job, note or action changed."""

    def __init__(self, record: Any) -> None:
        self.record = record
        self.job: Any = None
        self.html: Any = None
        self.buttons: dict[str, Any] = {}
        self.shown: tuple[Any, ...] | None = None  # the state the widgets show
        self._record_fields: dict[str, str] | None = None

    def fields(self) -> dict[str, str]:
        """The row's cells: the record's, worked out (and its chunks read) once; the
        attached job's while it changes."""
        if self.job is not None:
            return _fields(self.record, self.job)
        if self._record_fields is None:
            self._record_fields = _fields(self.record)
        return self._record_fields

    def state(self, note: str | None, busy: bool) -> tuple[Any, ...]:
        """What the row shows depends on, cheap to read: equal states render equally."""
        job = self.job
        if job is None:
            return (note, busy)
        moving = () if job.is_final else (int(time.time()),)  # its cost so far, its age
        return (note, busy, id(job), str(job.status), job.attempt, job.delay_ms,
                job.execution_ms, *moving)


class JobsTable(LiveView):
    """The live table (see the module docstring)."""

    def __init__(self, records: Sequence[Any], *, endpoint_for: Callable[[Any], Any]) -> None:
        import ipywidgets as widgets

        super().__init__()
        self.endpoint_for = endpoint_for
        self.rows = [_Row(record) for record in records]
        self.columns = columns(records)
        self.view: JobView | None = None
        header = "".join(
            f'<span style="{_cell_style(w)};{MUTED}">{n}</span>' for n, w in self.columns
        )
        grow = widgets.Layout(flex="1 1 auto", min_width="0", overflow="hidden")
        lines = [widgets.HBox([widgets.HTML(f'<div style="{FONT};{ROW_STYLE}">{header}</div>',
                                            layout=grow)])]
        for index, row in enumerate(self.rows):
            row.html = widgets.HTML(_row_html(row.fields(), self.columns),
                                    layout=widgets.Layout(flex="1 1 auto", min_width="0",
                                                          overflow="hidden"))
            for action in self._actions_for(row.record):
                button = widgets.Button(
                    description=action.capitalize(),
                    layout=widgets.Layout(width="auto", flex="0 0 auto"),
                    disabled=row.record.job_id is None,
                )
                button.on_click(lambda _b, i=index, a=action: self.act_on_row(i, a))
                row.buttons[action] = button
            lines.append(widgets.HBox([row.html, *row.buttons.values()]))
        for row in self.rows:
            row.shown = row.state(None, False)
        self._cursor = 0  # the row a tick looks at first
        self.detail = widgets.VBox([])
        self.box = widgets.VBox([*lines, self.detail])
        self.retired = False  # the next cell ran: static once nothing here still runs

    @staticmethod
    def _actions_for(record: Any) -> list[str]:
        actions = []
        if not record.final:
            actions.append("cancel")
        if record.status in RETRYABLE_STATUSES:
            actions.append("retry")
        actions.append("open")
        return actions

    def live_text(self) -> str:
        return static_jobs_bundle([row.record for row in self.rows],
                                  fields=[row.fields() for row in self.rows])["text/plain"]

    def on_show(self) -> None:
        on_next_cell(self.retire)

    def retire(self) -> None:
        """Another cell ran: turn static as soon as nothing the table started still runs."""
        self.retired = True
        self.wake()

    def done(self) -> bool:
        running = any(row.job is not None and not row.job.is_final for row in self.rows)
        viewing = self.view is not None and not self.view.job.is_final
        return self.retired and not self.busy and not running and not viewing

    def final_bundle(self) -> dict[str, Any]:
        bundle = static_jobs_bundle([row.record for row in self.rows],
                                    fields=[row.fields() for row in self.rows],
                                    note="run %runpod jobs again for a live table")
        if self.view is not None:
            opened = static_bundle(self.view.job)
            bundle["text/html"] += opened["text/html"]
            bundle["text/plain"] += "\n" + opened["text/plain"]
        return bundle

    def embedded_views(self) -> list[Any]:
        return [self.view] if self.view is not None else []

    # -- actions --------------------------------------------------------------------------

    def act_on_row(self, index: int, action: str) -> None:
        """Run ``cancel``, ``retry`` or ``open`` for one row, off the UI path."""
        row = self.rows[index]
        if row.record.job_id is None:
            return
        pending = {"cancel": "cancelling…", "retry": "retrying…", "open": "opening…"}[action]
        self.act(index, action, lambda: self._run(row, action), pending=pending)

    def _run(self, row: _Row, action: str) -> None:
        job = row.job
        if job is None:
            job = self.endpoint_for(row.record).job(row.record.job_id)
        if action == "cancel":
            job.cancel()
        elif action == "retry":
            job.retry()
        else:
            self._open(job)
        row.job = job

    def _open(self, job: Any) -> None:
        with self.lock:
            if self.view is not None:
                if self.view.job is job:
                    return
                old = self.view.close()
                for widget in old:
                    widget.close()
            self.view = JobView(job, embedded=True, on_dirty=self.wake)
            self.detail.children = [self.view.box]

    # -- the ticker -----------------------------------------------------------------------

    def keeps_ticking(self) -> bool:
        return False

    def refresh(self, now: float) -> bool:
        """Rebuild the rows whose state changed since they were last sent (a few a tick,
        as the budget allows, starting after the last row sent so none waits for ever)."""
        pending = False
        count = len(self.rows)
        for step in range(count):
            index = (self._cursor + step) % count
            row = self.rows[index]
            busy = index in self.busy
            note = self.notes.get(index)
            state = row.state(note, busy)
            live = busy or (row.job is not None and not row.job.is_final)
            pending = pending or live
            if state == row.shown:
                continue
            if self.budget.available(now) < 1:
                pending = True
                continue
            html = _row_html(row.fields(), self.columns, note)
            if self.send(row.html, now, value=html) and self._refresh_buttons(row, busy, now):
                row.shown = state
                self._cursor = (index + 1) % count
            else:
                pending = True
        return pending

    def _refresh_buttons(self, row: _Row, busy: bool, now: float) -> bool:
        job = row.job
        status = str(job.status) if job is not None else row.record.status
        final = job.is_final if job is not None else row.record.final
        unsent = row.record.job_id is None
        wanted = {
            "cancel": final or busy or unsent,
            "retry": status not in RETRYABLE_STATUSES or busy or unsent,
            "open": busy or unsent,
        }
        sent = True
        for action, button in row.buttons.items():
            sent = self.send(button, now, disabled=wanted[action]) and sent
        return sent

    def close(self) -> None:
        """Close every widget of the table (and the open job's view)."""
        with self.lock:
            for widget in self.widgets_to_close():
                widget.close()


def show_jobs_table(
    records: Sequence[Any], *, mode: str, endpoint_for: Callable[[Any], Any]
) -> JobsTable | None:
    """Show journal records: the live table in a live notebook (returned), else a static
    table (text in a terminal)."""
    if mode == "live" and records:
        table = JobsTable(records, endpoint_for=endpoint_for)
        table.show()
        return table
    if mode == "terminal":
        from rp_jupyter.notebook.text_status import terminal_width

        print(static_jobs_bundle(records, width=terminal_width())["text/plain"])
        return None
    from IPython.display import display

    display(static_jobs_bundle(records), raw=True)
    return None
