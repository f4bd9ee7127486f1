"""Small previews of a job's output, for grids and tables (sweeps, the jobs table): the text
of a reply or transcript, a thumbnail of a picture, a one-line summary of anything else.
"""

from __future__ import annotations

from typing import Any

from rp_jupyter import formats
from rp_jupyter.notebook import image_display as images
from rp_jupyter.notebook.format_views import preview_text
from rp_jupyter.notebook.markup import MONO, MUTED, esc
from rp_jupyter.notebook.static import error_summary, final_value, output_reading
from rp_jupyter.notebook.stream_state import StreamState, one_line

__all__ = ["output_line", "plain_preview", "preview_html", "text_html"]

PREVIEW_CHARS = 160
THUMBNAIL = 96

Thumbs = dict[int, tuple[Any, str]]


def output_line(job: Any) -> str:
    """A completed job's output on one line: a reply's or transcript's text, a summary of
    pictures or embeddings, the text of a text output, else compact JSON."""
    value = final_value(job)
    if value is None:
        return ""
    reading = output_reading(job)
    if reading is not None:
        return " ".join(preview_text(reading).split())
    if isinstance(value, str):
        return value.replace("\n", " ")
    return "[image]" if images.is_image(value) else one_line(value)


def plain_preview(item: Any) -> str:
    """A sweep item's preview in plain text."""
    job = item.job
    if job is None:
        return "submit failed" if item.error is not None else "not submitted"
    if not job.is_final:
        return ""
    if str(job.status) != "COMPLETED":
        return error_summary(job)
    return output_line(job)


def preview_html(item: Any, stream: StreamState | None, thumbs: Thumbs) -> str:
    """A mini-panel's body: text tail, newest frame or item, output or error."""
    job = item.job
    if job is None:
        if item.error is not None:
            return f'<div style="color:#b91c1c">submit failed: {esc(item.error)}</div>'
        return f'<div style="{MUTED}">{"not submitted" if item.skipped else "submitting…"}</div>'
    if job.is_final:
        if str(job.status) != "COMPLETED":
            return f'<div style="color:#b91c1c">{esc(error_summary(job))}</div>'
        value = final_value(job)
        if value is None:
            return f'<div style="{MUTED}">no output</div>'
        reading = output_reading(job)
        if reading is not None:
            return reading_preview(item.index, reading, thumbs)
        return value_preview(item.index, value, thumbs)
    if stream is None or stream.empty:
        return ""
    if stream.frame is not None:
        return value_preview(item.index, stream.frame, thumbs, key=stream.frame_index)
    if stream.text:
        return text_html(stream.text[-PREVIEW_CHARS:])
    if stream.items:
        return text_html(one_line(stream.items[-1][1]))
    return ""


def text_html(text: str) -> str:
    return (
        f'<div style="{MONO};white-space:pre-wrap;word-break:break-word;max-height:6em;'
        f'overflow:hidden">{esc(text)}</div>'
    )


def _thumbnail(index: int, value: Any, thumbs: Thumbs, key: Any) -> str:
    """A small picture (cached per mini-panel); ``""`` when it cannot be read."""
    cached = thumbs.get(index)
    if cached is None or cached[0] != key:
        try:
            if isinstance(value, formats.ImageRef):
                value = formats.resolve(value)
            cached = (key, images.thumbnail_data_url(value, THUMBNAIL))
        except ValueError:
            cached = (key, "")
        thumbs[index] = cached
    if cached[1]:
        return f'<img src="{cached[1]}" alt="output {index}" style="max-width:100%"/>'
    return ""


def reading_preview(index: int, reading: formats.Reading, thumbs: Thumbs) -> str:
    if isinstance(reading, formats.ImageSet) and reading.refs:
        picture = _thumbnail(index, reading.refs[0], thumbs, "final")
        if picture:
            more = len(reading.refs) - 1
            return picture + (f'<div style="{MUTED}">+{more} more</div>' if more else "")
    return text_html(preview_text(reading)[-PREVIEW_CHARS:])


def value_preview(index: int, value: Any, thumbs: Thumbs, key: Any = "final") -> str:
    if images.is_image(value):
        picture = _thumbnail(index, value, thumbs, key)
        if picture:
            return picture
    if isinstance(value, str):
        return text_html(value[-PREVIEW_CHARS:])
    return text_html(one_line(value))
