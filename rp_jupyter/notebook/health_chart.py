"""Endpoint health as HTML: a counters table and a small inline-SVG chart of the last
minutes (no plotting library), shared by the live health panel and its static reading."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rp_jupyter.notebook.markup import FONT, MUTED, esc

__all__ = ["SERIES", "health_chart_svg", "health_table_html", "health_text"]

WORKER_LABELS = ("idle", "initializing", "ready", "running", "throttled", "unhealthy")
JOB_LABELS = (
    ("in queue", "in_queue"),
    ("in progress", "in_progress"),
    ("completed", "completed"),
    ("failed", "failed"),
    ("retried", "retried"),
)
SERIES = (
    ("in queue", "in_queue", "#b45309"),
    ("in progress", "in_progress", "#1d4ed8"),
    ("workers running", "running", "#15803d"),
    ("workers idle", "idle", "#9ca3af"),
)
CELL = "padding:1px 8px;text-align:right"


def health_text(endpoint_id: str, health: Any, at: float | None = None) -> str:
    """Three plain lines: when, worker counts, job counts."""
    stamp = time.strftime("%H:%M:%S", time.localtime(at or time.time()))
    workers = " · ".join(f"{name} {getattr(health, name)}" for name in WORKER_LABELS)
    jobs = " · ".join(f"{label} {getattr(health, attr)}" for label, attr in JOB_LABELS)
    return f"health of {endpoint_id} at {stamp}\nworkers: {workers}\njobs:    {jobs}"


def health_table_html(health: Any) -> str:
    def table(title: str, pairs: Sequence[tuple[str, int]]) -> str:
        head = "".join(
            f'<th style="{CELL};{MUTED};font-weight:500">{esc(k)}</th>' for k, _ in pairs
        )
        body = "".join(f'<td style="{CELL};font-weight:600">{v}</td>' for _, v in pairs)
        return (
            f'<table style="border-collapse:collapse;margin:2px 0"><caption style="'
            f'text-align:left;{MUTED}">{esc(title)}</caption><tr>{head}</tr><tr>{body}</tr>'
            f"</table>"
        )

    workers = [(name, getattr(health, name)) for name in WORKER_LABELS]
    jobs = [(label, getattr(health, attr)) for label, attr in JOB_LABELS]
    return f'<div style="{FONT}">{table("workers", workers)}{table("jobs", jobs)}</div>'


def health_chart_svg(
    history: Sequence[tuple[float, Any]],
    *,
    width: int = 420,
    height: int = 110,
    window: float = 600.0,
) -> str:
    """Lines of queue, in-progress, running and idle counts over the last ``window``
    seconds (empty string with fewer than two readings)."""
    if len(history) < 2:
        return ""
    end = history[-1][0]
    start = max(history[0][0], end - window)
    points = [(t, h) for t, h in history if t >= start]
    span = max(end - start, 1e-6)
    top = max(1, *(getattr(h, attr) for _, h in points for _, attr, _ in SERIES))
    pad_left, pad_bottom, pad_top = 28, 14, 6
    plot_w, plot_h = width - pad_left - 4, height - pad_bottom - pad_top

    def xy(t: float, value: int) -> str:
        x = pad_left + (t - start) / span * plot_w
        y = pad_top + plot_h - value / top * plot_h
        return f"{x:.1f},{y:.1f}"

    lines = []
    for _, attr, colour in SERIES:
        coords = " ".join(xy(t, getattr(h, attr)) for t, h in points)
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>'
        )
    minutes = span / 60
    left_label = f"−{minutes:.0f} min" if minutes >= 1 else f"−{span:.0f} s"
    axis = (
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 4}" '
        f'y2="{pad_top + plot_h}" stroke="#d1d5db"/>'
        f'<text x="2" y="{pad_top + 8}" font-size="10" fill="#6b7280">{top}</text>'
        f'<text x="2" y="{pad_top + plot_h}" font-size="10" fill="#6b7280">0</text>'
        f'<text x="{pad_left}" y="{height - 2}" font-size="10" fill="#6b7280">{left_label}'
        f'</text><text x="{width - 24}" y="{height - 2}" font-size="10" fill="#6b7280">now'
        f"</text>"
    )
    legend = " ".join(
        f'<span style="color:{colour}">━ {esc(label)}</span>' for label, _, colour in SERIES
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{axis}{"".join(lines)}</svg>'
        f'<div style="{FONT};font-size:11px">{legend}</div>'
    )
