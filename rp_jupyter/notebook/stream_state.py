"""What a panel keeps of a job's stream, in bounded memory whatever its length.

A model's reply (vLLM token batches, OpenAI objects, OpenAI event streams split anywhere;
read by :class:`rp_jupyter.formats.ReplyStream`) and plain text chunks become a running
text (only its tail is kept) with a footer of token counts; picture chunks a newest frame;
other chunks a short list whose newest entry is shown in full.  The worker's progress
updates (``job.progress``), and chunks that carry progress fields, move a progress bar or
show their message.  A renderer you registered for a chunk comes first.  Every chunk stays
in ``job.chunks`` and in the journal; this is only the view.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rp_jupyter.formats import Progress, ReplyStream, read_progress
from rp_jupyter.notebook import image_display as images
from rp_jupyter.notebook.markup import MUTED, esc, pre, progress_html, tail_box
from rp_jupyter.notebook.renderers import IMG_STYLE, Renderers, renderers

__all__ = ["StreamState", "one_line", "progress_of"]

TEXT_TAIL = 8_000  # characters of running text kept and shown
ITEMS_KEPT = 8  # non-text chunks kept (the newest shown in full)
ITEM_LINE = 160  # characters of an older item's one-line summary
LINE = f"{MUTED};white-space:nowrap;overflow:hidden;text-overflow:ellipsis;line-height:1.4"


def progress_of(chunk: Any) -> tuple[float, str] | None:
    """``(fraction, label)`` when a chunk says how far the job has got."""
    found = read_progress(chunk, strict=True)
    if found is None or found.fraction is None:
        return None
    return found.fraction, found.label


def progress_block(progress: Progress) -> str:
    """A bar when the progress says how far, else its message."""
    if progress.fraction is not None:
        return progress_html(progress.fraction, progress.describe())
    return f'<div style="{MUTED};font-style:italic">{esc(progress.label)}</div>'


class StreamState:
    """The bounded view of one attempt's stream; :meth:`sync` pulls what is new from a job."""

    def __init__(self, registry: Renderers | None = None) -> None:
        self.registry = registry or renderers
        self.reset()

    def reset(self, attempt: int = 1) -> None:
        self.attempt = attempt
        self.reply = ReplyStream(keep_text=False)  # counts, finish reason, errors
        self.job_progress: Progress | None = None  # from the worker's progress updates
        self._progress_value: Any = None
        self.seen = 0  # chunks consumed
        self.text = ""  # tail of the running text
        self.text_chars = 0  # all text characters seen
        self.text_chunks = 0
        self.items: deque[tuple[int, Any]] = deque(maxlen=ITEMS_KEPT)
        self.first_item: tuple[int, Any] | None = None  # kept for good: the list starts there
        self.item_count = 0
        self.frame: Any = None
        self.frame_index = -1
        self.frame_count = 0
        self.progress: tuple[float, str] | None = None
        self._item_html: tuple[int, str] = (-1, "")
        self._encoded: tuple[int, images.EncodedImage | None] = (-1, None)

    def sync(self, job: Any) -> bool:
        """Take the chunks ``job`` has that this view has not seen, and its progress; True
        if anything changed (a retry starting a new attempt included)."""
        attempt, new = job.chunks_since(self.seen)
        reset = attempt != self.attempt
        if reset:
            self.reset(attempt)
            attempt, new = job.chunks_since(0)
            self.attempt = attempt
        if new:
            self.feed(new)
        return self._sync_progress(job) or reset or bool(new)

    def _sync_progress(self, job: Any) -> bool:
        value = None if job.is_final else getattr(job, "progress", None)
        if value == self._progress_value:
            return False
        self._progress_value = value
        self.job_progress = read_progress(value)
        return True

    def feed(self, chunks: list[Any]) -> None:
        pieces: list[str] = []
        for chunk in chunks:
            index = self.seen
            self.seen += 1
            renderer = self.registry.pick(chunk)
            if self.registry.is_builtin(renderer):
                added = self.reply.feed(chunk)
                if added is not None:  # part of a reply, or of a text stream
                    pieces.append(added)
                    continue
            kind = renderer.stream
            if kind == "text":
                pieces.append(chunk if isinstance(chunk, str) else str(chunk))
            elif kind == "frame":
                self.frame, self.frame_index = chunk, index
                self.frame_count += 1
            else:
                if self.first_item is None:
                    self.first_item = (index, chunk)
                self.items.append((index, chunk))
                self.item_count += 1
            progress = progress_of(chunk)
            if progress is not None:
                self.progress = progress
        if pieces:
            joined = "".join(pieces)
            self.text_chunks += len(pieces)
            self.text_chars += len(joined)
            self.text = (self.text + joined)[-TEXT_TAIL:]

    @property
    def is_reply(self) -> bool:
        """True when the stream is a model's reply (it has token counts, a finish reason)."""
        return self.reply.is_reply

    @property
    def progress_now(self) -> Progress | None:
        """The worker's latest progress update, else the newest progress a chunk carried."""
        if self.job_progress is not None:
            return self.job_progress
        if self.progress is not None:
            return Progress(*self.progress)
        return None

    # -- what the view shows -------------------------------------------------------------

    @property
    def empty(self) -> bool:
        return self.seen == 0

    def encoded_frame(self) -> images.EncodedImage | None:
        """The newest frame, decoded once (``None`` if there is none or it is unreadable)."""
        if self.frame is None:
            return None
        if self._encoded[0] != self.frame_index:
            try:
                picture = images.encode_image(self.frame)
            except ValueError:
                picture = None
            self._encoded = (self.frame_index, picture)
        return self._encoded[1]

    def html(self, *, frame: bool, seconds: float | None = None) -> str:
        """Progress, running text, newest item (and the newest frame when ``frame``);
        ``seconds`` (the run time so far) gives a reply's tokens per second."""
        parts = []
        progress = self.progress_now
        if progress is not None:
            parts.append(progress_block(progress))
        if self.is_reply:
            from rp_jupyter.notebook.format_views import live_reply_html

            parts.append(live_reply_html(self.text, self.text_chars - len(self.text),
                                         self.reply.reply, seconds))
        elif self.text_chars:
            dropped = self.text_chars - len(self.text)
            note = (
                f'<div style="{MUTED};font-size:11px">… {dropped:,} earlier characters '
                f"(all chunks are in job.chunks)</div>"
                if dropped > 0
                else ""
            )
            parts.append(note + tail_box(pre(self.text)))
        if self.items:
            parts.append(self._items_html())
        if frame:
            picture = self.encoded_frame()
            if picture is not None:
                parts.append(
                    f'<img src="{picture.data_url()}" alt="frame {self.frame_index}" '
                    f'style="{IMG_STYLE}"/>'
                )
        if self.seen:
            parts.append(
                f'<div style="{MUTED};font-size:11px">{self.seen:,} chunk'
                f"{'s' if self.seen != 1 else ''}</div>"
            )
        return "".join(parts)

    def _items_html(self) -> str:
        """The first item, a line for those left out, the newest few in one line each, then
        the newest in full: every line whole, none cut by a scroll box."""
        newest_index, newest = self.items[-1]
        if self._item_html[0] != newest_index:
            self._item_html = (newest_index, self.registry.render(newest).html)
        older = list(self.items)[:-1]
        if self.first_item is not None and (not older or older[0][0] != self.first_item[0]) \
                and self.first_item[0] != newest_index:
            skipped = (older[0][0] if older else newest_index) - self.first_item[0] - 1
            older = [self.first_item, *([(None, skipped)] if skipped > 0 else []), *older]
        lines = "".join(
            f'<div style="{LINE}">' + (f"#{i}: {esc(one_line(v))}" if i is not None
                                       else f"… {v:,} more") + "</div>"
            for i, v in older
        )
        label = f'<div style="{MUTED};font-size:11px">chunk #{newest_index}, the newest</div>'
        return lines + label + self._item_html[1]

    def text_summary(self, limit: int = 2_000, seconds: float | None = None) -> str:
        """Plain-text view for plain frontends: the text tail or the newest item."""
        lines = []
        progress = self.progress_now
        if progress is not None:
            lines.append(f"progress {progress.describe()}")
        if self.text:
            lines.append(self.text[-limit:])
        if self.is_reply:
            if self.reply.reply.error:
                lines.append(f"error: {self.reply.reply.error}")
            footer = self.reply.reply.footer(seconds)
            if footer:
                lines.append(f"[{footer}]")
        if self.items:
            lines.append(f"chunk #{self.items[-1][0]}: {one_line(self.items[-1][1])}")
        if self.frame is not None:
            picture = self.encoded_frame()
            lines.append(
                f"frame #{self.frame_index}" + (f" ({picture.describe()})" if picture else "")
            )
        return "\n".join(lines)


def one_line(value: Any) -> str:
    if images.is_image(value):
        return "[image]"
    import json

    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= ITEM_LINE else text[:ITEM_LINE] + "…"
