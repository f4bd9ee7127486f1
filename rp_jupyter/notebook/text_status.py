"""A job in plain text, for terminals (plain IPython, scripts): a few status lines, the
streamed text as it arrives (a model's reply as running text, whatever shape its chunks
have), progress updates, then the final output.  Never a carriage-return bar: every line
stays a line in logs (papermill ``--log-output``, CI).

Printing happens only on the thread that waits for the job (the cell's own thread).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rp_jupyter.api.errors import parse_job_error
from rp_jupyter.formats import Reply, ReplyStream, read_progress
from rp_jupyter.notebook.markup import footer_text, stream_gap_note, timings_text
from rp_jupyter.notebook.renderers import renderers
from rp_jupyter.notebook.static import error_summary, final_value, output_reading, render_output
from rp_jupyter.notebook.stream_state import one_line, progress_of

__all__ = ["TextStatus", "fit", "terminal_width"]

ITEM_LINES_PER_SECOND = 2.0
DETAIL_LINES = 40
OUTPUT_CHARS = 20_000


def terminal_width() -> int:
    """The terminal's width in columns (80 when it cannot be told)."""
    import shutil

    return shutil.get_terminal_size((80, 24)).columns


def fit(line: str, width: int | None = None) -> str:
    """``line`` cut to the terminal's width, with an ellipsis where it was cut."""
    width = width or terminal_width()
    return line if len(line) <= width else line[: max(1, width - 1)] + "…"


class TextStatus:
    """Prints one job's progress to ``out`` (see the module docstring).

    Example::

        status = TextStatus(job)
        status.start()
        while not job.wait(0.1):
            status.poll()
        status.finish()
    """

    def __init__(self, job: Any, *, out: TextIO | None = None) -> None:
        self.job = job
        self.out = out or sys.stdout
        self._status: str | None = None
        self._seen = 0
        self._attempt = job.attempt
        self._text: list[str] = []  # streamed text, to avoid printing the same output twice
        self._reply = ReplyStream(keep_text=False)
        self._progress: Any = None
        self._next_progress_line = 0.0
        self._mid_line = False

    def _line(self, text: str) -> None:
        if self._mid_line:
            self.out.write("\n")
            self._mid_line = False
        self.out.write(text + "\n")
        self.out.flush()

    def start(self) -> None:
        job = self.job
        self._status = str(job.status)
        origin = " (from the journal)" if job.cached or job.source == "journal" else ""
        if job.source == "replay":
            origin = f" (replayed from the journal at {job.speed:g}×)"
        self._line(f"runpod: job {job.id} on {job.endpoint_id}: {job.status}{origin}")

    def poll(self) -> None:
        """Print what changed since the last call."""
        job = self.job
        status = str(job.status)
        attempt, chunks = job.chunks_since(self._seen)
        if attempt != self._attempt:
            self._attempt, self._seen, self._text = attempt, 0, []
            self._reply = ReplyStream(keep_text=False)
            attempt, chunks = job.chunks_since(0)
        if status != self._status and not job.is_final:
            self._status = status
            if status == "IN_PROGRESS":
                self._line(f"runpod: running ({timings_text(job)})")
            else:
                self._line(f"runpod: {status}")
        self._progress_line()
        for offset, chunk in enumerate(chunks):
            self._chunk(self._seen + offset, chunk)
        self._seen += len(chunks)
        if self._mid_line:
            self.out.flush()

    def _progress_line(self) -> None:
        """One line per progress update, at most a few a second."""
        value = None if self.job.is_final else self.job.progress
        now = time.monotonic()
        if value is None or value == self._progress or now < self._next_progress_line:
            return
        self._progress = value
        self._next_progress_line = now + 1 / ITEM_LINES_PER_SECOND
        progress = read_progress(value)
        if progress is not None:
            self._line(f"  progress {progress.describe()}")

    def _write_text(self, text: str) -> None:
        if not text:
            return
        self._text.append(text)
        self.out.write(text)
        self._mid_line = not text.endswith("\n")

    def _chunk(self, index: int, chunk: Any) -> None:
        renderer = renderers.pick(chunk)
        if renderers.is_builtin(renderer):
            added = self._reply.feed(chunk)
            if added is not None:  # a reply or plain text, however its chunks are shaped
                self._write_text(added)
                return
        if renderer.stream == "text":
            self._write_text(chunk if isinstance(chunk, str) else str(chunk))
            return
        progress = progress_of(chunk)
        label = f" [{progress[1]}]" if progress else ""
        self._line(fit(f"  chunk #{index}{label}: {one_line(chunk)}"))  # every one, none skipped

    def _reply_end(self, reply: Reply) -> None:
        if reply.error:
            self._line(f"error: {reply.error}")
        footer = reply.footer(self.job.run_seconds)
        if footer:
            self._line(f"[{footer}]")

    def finish(self) -> None:
        """The closing line, the output (or the error) and the lines features add."""
        self._finish_output()
        footer = footer_text(self.job)
        if footer:
            self._line(footer)

    def _finish_output(self) -> None:
        self.poll()
        self._write_text(self._reply.finish())  # text held back while its shape was unclear
        job = self.job
        gap = stream_gap_note(job)
        self._line(f"runpod: {job.status} · {timings_text(job)}" + (f" · {gap}" if gap else ""))
        if str(job.status) == "COMPLETED":
            value = final_value(job)
            reading = output_reading(job)
            streamed = "".join(self._text)
            if value is None:
                self._line("(no output)")
            elif isinstance(reading, Reply) and streamed and reading.text == streamed:
                self._reply_end(reading)  # the text was printed as it streamed
            elif isinstance(value, str) and value == streamed:
                pass  # already printed as it streamed
            else:
                text = render_output(job).text
                if len(text) > OUTPUT_CHARS:
                    text = text[:OUTPUT_CHARS] + f"… ({len(text) - OUTPUT_CHARS} more chars)"
                self._line(text)
            return
        self._line(error_summary(job))
        if str(job.status) == "FAILED":
            details = parse_job_error(job.error)["details"]
            if details:
                lines = str(details).rstrip().splitlines()
                shown = lines[-DETAIL_LINES:]
                more = len(lines) - len(shown)
                self._line(
                    "details:" + (f" (last {len(shown)} of {len(lines)} lines)" if more else "")
                )
                self._line("\n".join("  " + line for line in shown))
