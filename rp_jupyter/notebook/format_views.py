"""How each worker shape that :mod:`rp_jupyter.formats` recognises is shown: a model's reply
as text with a footer (tokens in and out, tokens per second, finish reason), pictures at
their natural size in a gallery, a transcript as subtitle lines or text with its segments
as rows, embeddings as a summary.

Each ``render_*`` returns a :class:`~rp_jupyter.notebook.renderers.Rendering` (HTML, plain
text, and PNG bytes for pictures); :func:`render_reading` picks the right one.
"""

from __future__ import annotations

from typing import Any

from rp_jupyter import formats
from rp_jupyter.formats.transcripts import format_time
from rp_jupyter.notebook import image_display as images
from rp_jupyter.notebook.markup import FONT, MONO, MUTED, esc, folded, pre, tail_box
from rp_jupyter.notebook.renderers import IMG_STYLE, Rendering

__all__ = [
    "IMG_STYLE",
    "live_reply_html",
    "preview_text",
    "render_embeddings",
    "render_image_set",
    "render_reading",
    "render_reply",
    "render_transcript",
    "reply_footer_html",
]

TEXT_LIMIT = 200_000
SEGMENT_ROWS = 500
VECTORS_SHOWN = 3
VALUES_SHOWN = 6
ERROR_STYLE = f"{FONT};color:#b91c1c;font-weight:600;white-space:pre-wrap"


def render_reading(reading: formats.Reading, *, seconds: float | None = None) -> Rendering:
    """The rendering of any recognised output; ``seconds`` (the run time) gives a reply's
    tokens per second."""
    if isinstance(reading, formats.Reply):
        return render_reply(reading, seconds=seconds)
    if isinstance(reading, formats.ImageSet):
        return render_image_set(reading)
    if isinstance(reading, formats.Transcript):
        return render_transcript(reading)
    return render_embeddings(reading)


def preview_text(reading: formats.Reading) -> str:
    """What a small preview shows in words: the reply, the transcript, or a summary."""
    if isinstance(reading, formats.Reply):
        return reading.gist()
    if isinstance(reading, formats.Transcript):
        return reading.plain_text
    return reading.summary()


# -- replies -----------------------------------------------------------------------------------


def reply_footer_html(reply: formats.Reply, seconds: float | None = None) -> str:
    footer = reply.footer(seconds)
    if not footer:
        return ""
    return f'<div style="{FONT};{MUTED};font-size:11px;margin-top:2px">{esc(footer)}</div>'


def _shown(text: str) -> str:
    if len(text) <= TEXT_LIMIT:
        return pre(text)
    return pre(text[:TEXT_LIMIT]) + (
        f'<div style="{MUTED}">… {len(text) - TEXT_LIMIT:,} more characters not shown</div>')


def render_reply(reply: formats.Reply, *, seconds: float | None = None) -> Rendering:
    """The reply's text (every choice when there are several), its reasoning folded away,
    an error as a red line, the tool calls it asks for, and the footer."""
    parts, lines = [], []
    if reply.error:
        parts.append(f'<div style="{ERROR_STYLE}">{esc(reply.error)}</div>')
        lines.append(f"error: {reply.error}")
    if reply.reasoning_text:
        parts.append(folded("reasoning", pre(reply.reasoning_text)))
    texts = reply.texts
    if len(texts) > 1:
        for index, text in enumerate(texts):
            parts.append(f'<div style="{MUTED};font-size:11px">choice {index}</div>'
                         + _shown(text))
            lines.append(f"[choice {index}]\n{text}")
    elif texts and (texts[0] or not (reply.error or reply.tool_calls)):
        parts.append(_shown(texts[0]))
        lines.append(texts[0])
    for call in reply.tool_calls:
        parts.append(f'<div style="{FONT}"><span style="{MUTED}">tool call</span> '
                     f'<code style="{MONO}">{esc(call.describe())}</code></div>')
        lines.append(f"tool call: {call.describe()}")
    parts.append(reply_footer_html(reply, seconds))
    footer = reply.footer(seconds)
    if footer:
        lines.append(f"[{footer}]")
    return Rendering(html="".join(parts), text="\n".join(lines))


def live_reply_html(text_tail: str, dropped: int, reply: formats.Reply,
                    seconds: float | None) -> str:
    """The running text of a reply while it streams (its tail), and the footer so far."""
    note = (f'<div style="{MUTED};font-size:11px">… {dropped:,} earlier characters '
            f"(all chunks are in job.chunks)</div>" if dropped > 0 else "")
    error = f'<div style="{ERROR_STYLE}">{esc(reply.error)}</div>' if reply.error else ""
    return note + tail_box(pre(text_tail)) + error + reply_footer_html(reply, seconds)


# -- pictures ----------------------------------------------------------------------------------


def _figure(picture: images.EncodedImage, label: str) -> str:
    return (
        f'<figure style="margin:0;max-width:100%"><img src="{picture.data_url()}" '
        f'alt="{esc(label)}" style="{IMG_STYLE}"/>'
        f'<figcaption style="{MUTED};font-size:11px">{esc(label)}</figcaption></figure>'
    )


def _unreachable(ref: formats.ImageRef, reason: str) -> str:
    """A picture that could not be read here: the browser may still load its URL."""
    shown = ""
    if ref.kind == "url" and ref.value.startswith(("http://", "https://")):
        shown = f'<img src="{esc(ref.value)}" alt="{esc(ref.describe())}" style="{IMG_STYLE}"/>'
    return (f'<figure style="margin:0;max-width:100%">{shown}<figcaption style="'
            f'{MUTED};font-size:11px">{esc(ref.describe())}: not shown here ({esc(reason)})'
            f"</figcaption></figure>")


def render_image_set(found: formats.ImageSet) -> Rendering:
    """Every picture at its natural size (a gallery when there are several); ``png`` is
    the picture, or a sheet of them all."""
    figures, lines, decoded = [], [found.summary()], []
    for ref in found.refs:
        try:
            picture = images.encode_ref(ref)
        except ValueError as exc:
            figures.append(_unreachable(ref, str(exc)))
            lines.append(f"  {ref.describe()}: not shown ({exc})")
            continue
        label = f"{ref.describe()} · {picture.describe()}" if ref.name else picture.describe()
        figures.append(_figure(picture, label))
        lines.append(f"  {label}")
        decoded.append(picture)
    errors = found.details.get("errors")
    error_html = ""
    if isinstance(errors, list) and errors:
        items = "".join(f"<li>{esc(e)}</li>" for e in errors)
        error_html = folded(f"{len(errors)} worker error{'s' if len(errors) != 1 else ''}",
                            f'<ul style="{FONT}">{items}</ul>', open=not found.refs)
    html = (
        f'<div style="{FONT};{MUTED};font-size:11px">{esc(found.summary())}</div>'
        f'<div style="display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start">'
        f'{"".join(figures)}</div>{error_html}'
    )
    png = None
    if len(decoded) == 1:
        png = decoded[0].png()
    elif decoded:
        png = images.contact_sheet(decoded)
    return Rendering(html=html, text="\n".join(lines), png=png)


# -- transcripts -------------------------------------------------------------------------------


def render_transcript(transcript: formats.Transcript) -> Rendering:
    """Subtitles as timed lines (SRT, VTT) or the text, then the segments as rows."""
    head = f'<div style="{FONT};{MUTED};font-size:11px">{esc(transcript.summary())}</div>'
    if transcript.format in ("srt", "vtt"):
        rows = "".join(
            f'<tr><td style="{MONO};{MUTED};white-space:nowrap;padding-right:1em;'
            f'vertical-align:top">{esc(format_time(c.start))} → '
            f"{esc(format_time(c.end))}</td>"
            f'<td style="white-space:pre-wrap;text-align:left">{esc(c.text)}</td></tr>'
            for c in transcript.cues
        )
        body = f'<table style="{FONT};border-collapse:collapse">{rows}</table>'
        text = "\n".join(transcript.subtitle_lines())
    else:
        body = _shown(transcript.text)
        text = transcript.text
    parts = [head, body]
    if transcript.translation:
        parts.append(folded("translation", pre(transcript.translation), open=True))
        text += f"\n\ntranslation:\n{transcript.translation}"
    if transcript.segments:
        parts.append(folded(f"segments ({len(transcript.segments)})",
                            _segment_table(transcript.segments)))
    return Rendering(html="".join(parts), text=f"{transcript.summary()}\n{text}")


def _segment_table(segments: list[dict[str, Any]]) -> str:
    columns = ["id", "start", "end", "text"]
    head = "".join(f'<th style="text-align:left">{c}</th>' for c in columns)
    rows = []
    for segment in segments[:SEGMENT_ROWS]:
        cells = []
        for column in columns:
            value = segment.get(column, "")
            shown = f"{value:.2f}" if isinstance(value, float) else str(value).strip()
            cells.append(f'<td style="text-align:left;vertical-align:top">{esc(shown)}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    more = (f'<div style="{MUTED}">… {len(segments) - SEGMENT_ROWS} more segments</div>'
            if len(segments) > SEGMENT_ROWS else "")
    return (f'<table style="{FONT};border-collapse:collapse"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{more}")


# -- embeddings --------------------------------------------------------------------------------


def render_embeddings(found: formats.Embeddings) -> Rendering:
    """The count, dimensions and model, and the start of the first few vectors."""
    lines = []
    for index, vector in enumerate(found.vectors[:VECTORS_SHOWN]):
        values = ", ".join(f"{v:.4g}" for v in vector[:VALUES_SHOWN])
        more = ", …" if len(vector) > VALUES_SHOWN else ""
        lines.append(f"[{index}] [{values}{more}]")
    if found.count > VECTORS_SHOWN:
        lines.append(f"… {found.count - VECTORS_SHOWN} more")
    html = (
        f'<div style="{FONT};font-weight:600">{esc(found.summary())}</div>'
        f'<div style="{MONO};{MUTED};white-space:pre">{esc(chr(10).join(lines))}</div>'
        f'<div style="{MUTED};font-size:11px">the vectors: job.embeddings</div>'
    )
    return Rendering(html=html, text=found.summary() + "\n" + "\n".join(lines))
