"""A job in plain text, for terminals (plain IPython, scripts): a few status lines, the
streamed text as it arrives, then the final output.  Never a carriage-return bar: every
line stays a line in logs (papermill ``--log-output``, CI).

Printing happens only on the thread that waits for the job (the cell's own thread).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rp_jupyter.api.errors import parse_job_error
from rp_jupyter.notebook.markup import timings_text
from rp_jupyter.notebook.renderers import renderers
from rp_jupyter.notebook.static import error_summary, final_value
from rp_jupyter.notebook.stream_state import one_line, progress_of

__all__ = ["TextStatus"]

ITEM_LINES_PER_SECOND = 2.0
DETAIL_LINES = 40
OUTPUT_CHARS = 20_000


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
        self._mid_line = False
        self._next_item_line = 0.0
        self._skipped = 0

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
        self._line(f"runpod: job {job.id} on {job.endpoint_id}: {job.status}{origin}")

    def poll(self) -> None:
        """Print what changed since the last call."""
        job = self.job
        status = str(job.status)
        attempt, chunks = job.chunks_since(self._seen)
        if attempt != self._attempt:
            self._attempt, self._seen, self._text = attempt, 0, []
            attempt, chunks = job.chunks_since(0)
        if status != self._status and not job.is_final:
            self._status = status
            if status == "IN_PROGRESS":
                self._line(f"runpod: running ({timings_text(job)})")
            else:
                self._line(f"runpod: {status}")
        for offset, chunk in enumerate(chunks):
            self._chunk(self._seen + offset, chunk)
        self._seen += len(chunks)
        if self._skipped and time.monotonic() >= self._next_item_line:
            self._line(f"  … {self._skipped} more chunks")
            self._skipped = 0
        if self._mid_line:
            self.out.flush()

    def _chunk(self, index: int, chunk: Any) -> None:
        if renderers.stream_kind(chunk) == "text":
            text = chunk if isinstance(chunk, str) else str(chunk)
            self._text.append(text)
            self.out.write(text)
            self._mid_line = not text.endswith("\n")
            return
        now = time.monotonic()
        if now < self._next_item_line:
            self._skipped += 1
            return
        self._next_item_line = now + 1 / ITEM_LINES_PER_SECOND
        progress = progress_of(chunk)
        label = f" [{progress[1]}]" if progress else ""
        self._line(f"  chunk #{index}{label}: {one_line(chunk)}")

    def finish(self) -> None:
        """The closing line and the output (or the error)."""
        self.poll()
        job = self.job
        self._line(f"runpod: {job.status} · {timings_text(job)}")
        if str(job.status) == "COMPLETED":
            value = final_value(job)
            if value is None:
                self._line("(no output)")
            elif isinstance(value, str) and value == "".join(self._text):
                pass  # already printed as it streamed
            else:
                text = renderers.render(value).text
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
