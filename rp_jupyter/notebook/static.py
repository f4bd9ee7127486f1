"""The static rendering of a job: a mime bundle (text/plain, text/html, image/png) that reads
well without a kernel or a widget manager (saved notebooks, nbconvert, GitHub previews).

The header (endpoint, job id, status, timings) sits above the output; the error shows as
a readable message with its details folded away, and the input is folded away too.  A job
that is not final yet renders as its header plus what it has streamed so far.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rp_jupyter import formats
from rp_jupyter.api.errors import parse_job_error
from rp_jupyter.api.models import MISSING
from rp_jupyter.notebook.format_views import render_reading
from rp_jupyter.notebook.markup import (
    FONT,
    MUTED,
    esc,
    folded,
    footer_html,
    footer_text,
    header_html,
    header_text,
    pre,
)
from rp_jupyter.notebook.presentation import for_the_room
from rp_jupyter.notebook.renderers import Rendering, renderers
from rp_jupyter.notebook.stream_state import StreamState

__all__ = [
    "error_summary",
    "error_text",
    "final_value",
    "outcome",
    "output_reading",
    "render_output",
    "static_bundle",
    "static_html",
]

EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b(: .*)?$")
INPUT_CHARS = 4_000
TEXT_PLAIN_CHARS = 10_000
BOX = "border:1px solid #d1d5db;border-radius:6px;padding:6px 10px;margin:2px 0"


def final_value(job: Any) -> Any:
    """The output as people expect to see it.

    A streaming handler's output is its chunks (the server's ``output`` is empty, or is the
    aggregate of the chunks): text chunks are joined into one text, and a stream of
    pictures ends with its newest frame.  ``None`` when there is nothing.
    """
    output = job.output
    chunks = job.chunks
    from_stream = output is MISSING or output is None or output == []
    if from_stream:
        if not chunks:
            return None
        output = chunks
    elif not (isinstance(output, list) and chunks and output == chunks):
        return output
    if all(isinstance(c, str) for c in output):
        return "".join(output)
    if all(renderers.stream_kind(c) == "frame" for c in output):
        return output[-1]
    return output


def error_summary(job: Any) -> str:
    """One readable line saying why a job did not complete."""
    status = str(job.status)
    if status == "FAILED":
        return error_text(job.error)
    if status == "CANCELLED":
        return "cancelled"
    if status == "TIMED_OUT":
        return "timed out before a worker took it (its ttl ran out)"
    if status == "EXPIRED":
        return "the server forgot this job before its result was fetched"
    return ""


def error_text(error: Any) -> str:
    """A server ``error`` as one readable line: ``RuntimeError: boom``, or an OpenAI-style
    worker error such as ``BadRequestError: max_tokens is too large (code 400)``."""
    readable = formats.error_message(error)
    if readable is not None:
        return readable
    parsed = parse_job_error(error)
    if parsed["type"]:
        return f"{parsed['type']}: {parsed['message']}"
    return _last_exception_line(parsed["details"]) or parsed["message"]


def _last_exception_line(details: Any) -> str | None:
    """``RuntimeError: boom`` from the end of a traceback (generator handlers send only
    ``handler: boom`` plus the traceback)."""
    if not isinstance(details, str):
        return None
    lines = [line for line in details.strip().splitlines() if line.strip()]
    if lines and EXCEPTION_LINE.match(lines[-1]):
        return lines[-1].strip()
    return None


def output_reading(job: Any) -> formats.Reading | None:
    """What :mod:`rp_jupyter.formats` recognises in a job's output, unless a renderer you
    registered claims the output first (then ``None``)."""
    value = final_value(job)
    if value is None or not renderers.is_builtin(renderers.pick(value)):
        return None
    return formats.read_job(None if job.output is MISSING else job.output, job.chunks)


def render_output(job: Any) -> Rendering | None:
    """The rendering of a completed job's output (``None`` when there is none): your own
    renderer if one matches, else what :mod:`rp_jupyter.formats` recognises (a reply with
    its tokens per second, pictures, a transcript, embeddings), else the built-ins."""
    value = final_value(job)
    if value is None:
        return None
    reading = output_reading(job)
    if reading is not None:
        return render_reading(reading, seconds=job.run_seconds)
    return renderers.render(value)


def outcome(job: Any) -> tuple[str, str, bytes | None]:
    """``(html, text, png)`` for a final job's output or error."""
    status = str(job.status)
    if status == "COMPLETED":
        rendering = render_output(job)
        if rendering is None:
            return f'<div style="{MUTED}">no output</div>', "(no output)", None
        return rendering.html, rendering.text, rendering.png
    summary = error_summary(job)
    html = (
        f'<div style="{FONT};color:#b91c1c;font-weight:600;white-space:pre-wrap">'
        f"{esc(summary)}</div>"
    )
    text = f"{status}: {summary}"
    if status == "FAILED":
        details = parse_job_error(job.error)["details"]
        if details:
            html += folded("details", pre(str(details)))
        raw = job.error if isinstance(job.error, str) else json.dumps(job.error, default=repr)
        if raw and raw != summary and not details:
            html += folded("server error", pre(raw))
    if job.chunk_count:
        stream = StreamState()
        stream.sync(job)
        html += folded("streamed before it stopped",
                       stream.html(frame=True, seconds=job.run_seconds), open=True)
        text += "\n" + stream.text_summary(seconds=job.run_seconds)
    return html, text, None


def _input_html(job: Any, read_as: str | None) -> str:
    if job.input is None:
        return ""
    try:
        text = json.dumps(job.input, indent=2, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(job.input)
    if len(text) > INPUT_CHARS:
        text = text[:INPUT_CHARS] + f"\n… ({len(text) - INPUT_CHARS} more characters)"
    summary = "input" + (f" · read as {read_as}" if read_as else "")
    return folded(summary, pre(text))


def static_html(
    job: Any,
    *,
    read_as: str | None = None,
    note: str | None = None,
    stream: StreamState | None = None,
    footnote: str | None = None,
) -> tuple[str, str, bytes | None]:
    """``(html, text, png)`` of the whole rendering (see :func:`static_bundle`)."""
    if job.is_final:
        body, text, png = outcome(job)
    else:
        if stream is None:
            stream = StreamState()
            stream.sync(job)
        seconds = job.run_seconds
        body, text, png = (stream.html(frame=True, seconds=seconds),
                           stream.text_summary(seconds=seconds), None)
    html = (
        f'<div style="{BOX}">{header_html(job, full_id=True, note=note)}'
        f'<div style="margin-top:4px">{body}</div>{footer_html(job)}'
        f"{_input_html(job, read_as)}</div>"
    )
    if footnote:
        html += f'<div style="{FONT};{MUTED};margin:2px 0 0 2px">{esc(footnote)}</div>'
    html = for_the_room(html)

    plain = header_text(job) + (f" · {note}" if note else "")
    if text:
        if len(text) > TEXT_PLAIN_CHARS:
            text = text[:TEXT_PLAIN_CHARS] + f"… ({len(text) - TEXT_PLAIN_CHARS} more chars)"
        plain += "\n" + text
    footer = footer_text(job)
    if footer:
        plain += "\n" + footer
    if footnote:
        plain += "\n" + footnote
    return html, plain, png


def static_bundle(
    job: Any,
    *,
    read_as: str | None = None,
    note: str | None = None,
    stream: StreamState | None = None,
    footnote: str | None = None,
) -> dict[str, Any]:
    """The job as a mime bundle: ``text/plain``, ``text/html``, and ``image/png`` when the
    output is a picture (or a list of them).  ``footnote`` is a plain line under the box
    (what a live panel's buttons became).

    Example::

        from IPython.display import display
        display(static_bundle(job), raw=True)
    """
    html, plain, png = static_html(job, read_as=read_as, note=note, stream=stream,
                                   footnote=footnote)
    bundle: dict[str, Any] = {"text/plain": plain, "text/html": html}
    if png is not None:
        import base64

        bundle["image/png"] = base64.b64encode(png).decode("ascii")
    return bundle
