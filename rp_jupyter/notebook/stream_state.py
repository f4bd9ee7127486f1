"""What a panel keeps of a job's stream, in bounded memory whatever its length.

Text chunks become a running text (only its tail is kept), picture chunks a newest frame,
other chunks a short list whose newest entry is shown in full; chunks that carry progress
(``progress``, ``step``/``steps``, ``current``/``total``) move a progress bar.  Every chunk
stays in ``job.chunks`` and in the journal; this is only the view.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rp_jupyter.notebook import images
from rp_jupyter.notebook.markup import MUTED, esc, pre, progress_html, tail_box
from rp_jupyter.notebook.renderers import Renderers, renderers

__all__ = ["StreamState", "one_line", "progress_of"]

TEXT_TAIL = 8_000  # characters of running text kept and shown
ITEMS_KEPT = 8  # non-text chunks kept (the newest shown in full)
ITEM_LINE = 160  # characters of an older item's one-line summary


def progress_of(chunk: Any) -> tuple[float, str] | None:
    """``(fraction, label)`` when a chunk says how far the job has got."""
    if not isinstance(chunk, dict):
        return None
    for done_key, total_key in (("step", "steps"), ("current", "total"), ("completed", "total")):
        done, total = chunk.get(done_key), chunk.get(total_key)
        if _number(done) and _number(total) and total > 0:
            return min(1.0, max(0.0, done / total)), f"{done:g}/{total:g}"
    value = chunk.get("progress")
    if _number(value):
        fraction = value / 100 if 1 < value <= 100 else value
        return min(1.0, max(0.0, fraction)), f"{min(1.0, max(0.0, fraction)):.0%}"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class StreamState:
    """The bounded view of one attempt's stream; :meth:`sync` pulls what is new from a job."""

    def __init__(self, registry: Renderers | None = None) -> None:
        self.registry = registry or renderers
        self.reset()

    def reset(self, attempt: int = 1) -> None:
        self.attempt = attempt
        self.seen = 0  # chunks consumed
        self.text = ""  # tail of the running text
        self.text_chars = 0  # all text characters seen
        self.text_chunks = 0
        self.items: deque[tuple[int, Any]] = deque(maxlen=ITEMS_KEPT)
        self.item_count = 0
        self.frame: Any = None
        self.frame_index = -1
        self.frame_count = 0
        self.progress: tuple[float, str] | None = None
        self._item_html: tuple[int, str] = (-1, "")
        self._encoded: tuple[int, images.EncodedImage | None] = (-1, None)

    def sync(self, job: Any) -> bool:
        """Take the chunks ``job`` has that this view has not seen; True if any (or if a
        retry started a new attempt)."""
        attempt, new = job.chunks_since(self.seen)
        reset = attempt != self.attempt
        if reset:
            self.reset(attempt)
            attempt, new = job.chunks_since(0)
            self.attempt = attempt
        if new:
            self.feed(new)
        return reset or bool(new)

    def feed(self, chunks: list[Any]) -> None:
        pieces: list[str] = []
        for chunk in chunks:
            index = self.seen
            self.seen += 1
            kind = self.registry.stream_kind(chunk)
            if kind == "text":
                pieces.append(chunk if isinstance(chunk, str) else str(chunk))
            elif kind == "frame":
                self.frame, self.frame_index = chunk, index
                self.frame_count += 1
            else:
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

    def html(self, *, frame: bool) -> str:
        """Progress, running text, newest item (and the newest frame when ``frame``)."""
        parts = []
        if self.progress is not None:
            parts.append(progress_html(*self.progress))
        if self.text_chars:
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
                    f'style="max-width:100%;height:auto"/>'
                )
        if self.seen:
            parts.append(
                f'<div style="{MUTED};font-size:11px">{self.seen:,} chunk'
                f"{'s' if self.seen != 1 else ''}</div>"
            )
        return "".join(parts)

    def _items_html(self) -> str:
        newest_index, newest = self.items[-1]
        if self._item_html[0] != newest_index:
            self._item_html = (newest_index, self.registry.render(newest).html)
        older = list(self.items)[:-1]
        lines = "".join(
            f'<div style="{MUTED};white-space:nowrap;overflow:hidden;text-overflow:ellipsis">'
            f"#{i}: {esc(one_line(v))}</div>"
            for i, v in older
        )
        history = tail_box(lines, max_height="7em") if lines else ""
        label = (
            f'<div style="{MUTED};font-size:11px">chunk #{newest_index} '
            f"(newest of {self.item_count:,})</div>"
        )
        return history + label + self._item_html[1]

    def text_summary(self, limit: int = 2_000) -> str:
        """Plain-text view for plain frontends: the text tail or the newest item."""
        lines = []
        if self.progress is not None:
            lines.append(f"progress {self.progress[1]}")
        if self.text:
            lines.append(self.text[-limit:])
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
