"""Small HTML and text pieces shared by the live panels and the static renderings: the
job header (endpoint, job id, status badge, timings), progress bars, folded sections.

Inline styles only (no classes, no scripts), so the same markup reads the same in
JupyterLab, Notebook 7, VS Code, Colab, nbconvert and GitHub's notebook preview.
"""

from __future__ import annotations

import html
from typing import Any

from rp_jupyter.notebook.durations import format_duration
from rp_jupyter.notebook.panel_parts import parts
from rp_jupyter.notebook.presentation import presenting

__all__ = [
    "STATUS_COLOURS",
    "badge",
    "esc",
    "failure_note",
    "folded",
    "footer_html",
    "footer_text",
    "header_html",
    "header_text",
    "pre",
    "progress_html",
    "short_id",
    "stream_gap_note",
    "tail_box",
    "timings_text",
]

STATUS_COLOURS = {
    "SUBMITTING": "#6b7280",
    "IN_QUEUE": "#b45309",
    "IN_PROGRESS": "#1d4ed8",
    "COMPLETED": "#15803d",
    "FAILED": "#b91c1c",
    "CANCELLED": "#4b5563",
    "TIMED_OUT": "#c2410c",
    "EXPIRED": "#4b5563",
    "LOST": "#4b5563",
    "MAYBE_ACCEPTED": "#b45309",
}
FONT = "font-family:var(--jp-ui-font-family, system-ui, sans-serif);font-size:13px"
MONO = "font-family:var(--jp-code-font-family, ui-monospace, monospace);font-size:12px"
MUTED = "color:#6b7280"


def failure_note(action: str, exc: BaseException) -> str:
    """One line saying an action failed and why (the first line of the error)."""
    text = str(exc)
    return f"{action} failed: {text.splitlines()[0] if text else type(exc).__name__}"


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def short_id(job_id: str) -> str:
    """The first 8 characters of a long job id, for headers and tables."""
    return job_id if len(job_id) <= 12 else job_id[:8] + "…"


def badge(status: Any) -> str:
    text = str(status)
    colour = STATUS_COLOURS.get(text, "#4b5563")
    return (
        f'<span style="background:{colour};color:#fff;border-radius:4px;padding:1px 6px;'
        f'font-size:11px;font-weight:600;letter-spacing:.02em">{esc(text)}</span>'
    )


def _clock(seconds: float) -> str:
    """Whole seconds while a clock runs, so a live header changes at most once a second."""
    return f"{round(seconds)} s" if seconds < 59.5 else format_duration(round(seconds))


def timings_text(job: Any) -> str:
    """``queued 3 s · running 12 s`` while live; the server's ``delayTime`` and
    ``executionTime`` once known (``delay 0.4 s · execution 2.1 s · total 2.6 s``)."""
    status = str(job.status)
    if status == "SUBMITTING":
        return "submitting"
    parts = []
    if job.delay_ms is not None:
        parts.append(f"delay {format_duration(job.delay_ms / 1000)}")
    elif not job.is_final:
        parts.append(f"queued {_clock(job.queue_seconds)}")
    if job.execution_ms is not None:
        parts.append(f"execution {format_duration(job.execution_ms / 1000)}")
    elif not job.is_final and job.run_seconds is not None:
        parts.append(f"running {_clock(job.run_seconds)}")
    if job.is_final:
        if job.delay_ms is None and job.execution_ms is None and job.started_at:
            parts.append(f"queued {format_duration(job.queue_seconds)}")
            if job.run_seconds is not None:
                parts.append(f"ran {format_duration(job.run_seconds)}")
        parts.append(f"total {format_duration(job.elapsed)}")
    return " · ".join(parts)


def stream_gap_note(job: Any) -> str | None:
    """What to say when the job's stream may be missing chunks (``job.stream_complete``)."""
    if getattr(job, "stream_complete", True) is False:
        return "chunks may be missing: an answer of the stream was lost"
    return None


def _flags(job: Any) -> list[str]:
    flags = []
    if getattr(job, "attempt", 1) > 1:
        flags.append(f"attempt {job.attempt}")
    if getattr(job, "source", "server") == "replay":
        flags.append(f"replayed from the journal at {job.speed:g}×")
    elif getattr(job, "cached", False):
        flags.append("answered from the journal")
    elif getattr(job, "source", "server") == "journal":
        flags.append("read from the journal")
    gap = stream_gap_note(job)
    if gap:
        flags.append(gap)
    problem = getattr(job, "tracking_error", None)
    if problem is not None and not job.is_final:
        first = str(problem).splitlines()[0] if str(problem) else type(problem).__name__
        flags.append(f"connection trouble, still trying: {first}")
    return flags + parts.notes(job)


def header_text(job: Any) -> str:
    """One line for plain frontends: ``runpod · local · job 3a44d654-… · COMPLETED · ...``
    (without the id and timings while presenting)."""
    if presenting():
        parts = ["runpod", job.endpoint_id, str(job.status)]
    else:
        parts = ["runpod", job.endpoint_id, f"job {job.id}", str(job.status), timings_text(job)]
    return " · ".join(p for p in [*parts, *_flags(job)] if p)


def header_html(job: Any, *, full_id: bool = False, note: str | None = None) -> str:
    """Endpoint, job id, coloured status badge, timings (and notes) on one line; while
    presenting, only the endpoint, the badge and the notes."""
    shown = job.id if full_id else short_id(job.id)
    pieces = [
        f"<b>{esc(job.endpoint_id)}</b>",
        f'<span style="{MONO}" title="{esc(job.id)}">{esc(shown)}</span>',
        badge(job.status),
        f'<span style="{MUTED}">{esc(timings_text(job))}</span>',
    ]
    if presenting():
        pieces = [pieces[0], pieces[2]]
    extra = _flags(job) + ([note] if note else [])
    pieces += [f'<span style="{MUTED};font-style:italic">{esc(e)}</span>' for e in extra]
    return f'<div style="{FONT};line-height:1.6">{" &nbsp; ".join(pieces)}</div>'


def footer_text(job: Any) -> str:
    """The lines features add under a job's output (see :mod:`panel_parts`), or ``""``."""
    return "\n".join(parts.footers(job))


def footer_html(job: Any) -> str:
    lines = parts.footers(job)
    return "".join(f'<div style="{FONT};{MUTED}">{esc(line)}</div>' for line in lines)


def progress_html(fraction: float, label: str = "") -> str:
    pct = max(0.0, min(1.0, fraction)) * 100
    return (
        f'<div style="{FONT};display:flex;align-items:center;gap:8px;margin:2px 0">'
        f'<div style="flex:1;max-width:420px;height:8px;background:#e5e7eb;border-radius:4px;'
        f'overflow:hidden"><div style="width:{pct:.1f}%;height:100%;background:#2563eb">'
        f'</div></div><span style="{MUTED}">{esc(label or f"{pct:.0f}%")}</span></div>'
    )


def folded(summary: str, body_html: str, *, open: bool = False) -> str:
    """A ``<details>`` section: ``summary`` shown, ``body_html`` one click away."""
    flag = " open" if open else ""
    return (
        f'<details{flag} style="{FONT};margin:4px 0"><summary style="cursor:pointer;{MUTED}">'
        f"{esc(summary)}</summary>{body_html}</details>"
    )


def tail_box(inner_html: str, *, max_height: str = "18em") -> str:
    """A scroll box that stays scrolled to its end when its content is replaced (the
    ``column-reverse`` layout starts at the bottom), for running text."""
    return (
        f'<div style="max-height:{max_height};overflow-y:auto;display:flex;'
        f'flex-direction:column-reverse;border-left:3px solid #e5e7eb;padding-left:8px">'
        f"<div>{inner_html}</div></div>"
    )


def pre(text: str) -> str:
    return (
        f'<pre style="{MONO};white-space:pre-wrap;word-break:break-word;margin:0">{esc(text)}</pre>'
    )
