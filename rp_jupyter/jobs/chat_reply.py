"""``ChatReply``: a model's reply to :meth:`Endpoint.chat` or :meth:`Endpoint.completion`,
a :class:`~rp_jupyter.jobs.job.Job` with what a reply adds: token counts, finish reason,
time to first token and tokens per second.

It is journaled, cached, cancelled and shown like any job.  On the OpenAI route its id is
chosen by the client (``chat-…``), its chunks are the stream's chunk objects and its
output the whole ``chat.completion``; where the endpoint has no such route it *is* the
``/run`` job sent instead (its id is then the server's, its chunks the worker's), and
``note`` says so.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rp_jupyter import formats
from rp_jupyter.api.models import JobStatus, StatusDocument
from rp_jupyter.jobs.job import Job
from rp_jupyter.jobs.tracking_policy import REPLY_MODES

if TYPE_CHECKING:
    from rp_jupyter.api.errors import RunpodError

__all__ = ["CUT_NOTE", "NO_ROUTE_NOTE", "ChatReply", "stream_cut"]

NO_ROUTE_NOTE = ("this endpoint has no OpenAI route (404): sent as a /run job with the vLLM "
                 "worker's native input")
CUT_NOTE = ("the reply's stream was cut: the process reading it stopped before the reply "
            "ended (the server stops a job whose client has gone); the text read until then "
            "is kept")


class ChatReply(Job):
    """A model's reply (see the module docstring).

    Example::

        reply = endpoint.chat([{"role": "user", "content": "Hello"}], max_tokens=50)
        for piece in reply.text_stream():
            print(piece, end="")
        print(reply.usage, reply.finish_reason, f"{reply.ttft:.2f} s", reply.tokens_per_second)
    """

    def __init__(self, backend: Any, *, route: str | None = None, note: str | None = None,
                 **job: Any) -> None:
        super().__init__(backend, **job)
        self.route = route  # "/v1/chat/completions" or "/v1/completions"
        self.note = note  # e.g. why it went to /run
        self.server_job_id: str | None = None  # the job the server ran (x-request-id)
        self.first_token_at: float | None = None
        self.request_error: RunpodError | None = None  # why it never got an answer
        self._live = formats.ReplyStream(keep_text=False)
        self._pieces = 0  # chunks that brought text (about one token each, when streamed)
        self._final_reading: tuple[int, formats.Reading | None] | None = None
        self._reader: Any = None  # the engine task reading the stream

    # -- what a reply adds ---------------------------------------------------------------

    @property
    def _reply(self) -> formats.Reply | None:
        if self.is_final or self.source == "journal":
            count = self.chunk_count
            if self._final_reading is None or self._final_reading[0] != count:
                self._final_reading = (count, self.reading)
            found = self._final_reading[1]
            return found if isinstance(found, formats.Reply) else None
        return self._live.reply if self._live.is_reply else None

    @property
    def usage(self) -> formats.Usage | None:
        """Tokens in (the prompt) and out (the reply), as the server counted them."""
        reply = self._reply
        return reply.usage if reply is not None else None

    @property
    def finish_reason(self) -> str | None:
        """Why the model stopped: ``"stop"``, ``"length"`` (``max_tokens``), ..."""
        reply = self._reply
        return reply.finish_reason if reply is not None else None

    @property
    def model(self) -> str | None:
        reply = self._reply
        return reply.model if reply is not None else None

    @property
    def messages(self) -> list[dict[str, Any]] | None:
        """The chat's messages as sent (``None`` for a completion)."""
        value = self.input if isinstance(self.input, dict) else {}
        found = (value.get("openai_input") or {}).get("messages", value.get("messages"))
        return list(found) if isinstance(found, list) else None

    @property
    def ttft(self) -> float | None:
        """Seconds from sending the request to the first token (``None`` before it)."""
        if self.first_token_at is not None:
            return max(0.0, self.first_token_at - self.submitted_at)
        if self.is_final and self.mode in REPLY_MODES and self.delay_ms is not None:
            return self.delay_ms / 1000
        return None

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens per second from the first token on (so far, or in the end)."""
        usage = self.usage
        tokens = usage.output if usage is not None and usage.output is not None else (
            self._pieces or None)
        if tokens is None:
            return None
        if self.first_token_at is not None:
            seconds = (self.finished_at or time.time()) - self.first_token_at
        elif self.is_final and self.mode in REPLY_MODES and self.execution_ms is not None:
            seconds = self.execution_ms / 1000
        else:
            return None
        return tokens / seconds if seconds > 0 else None

    # -- engine side ---------------------------------------------------------------------

    def _add_chunks(self, chunks: list[Any]) -> None:
        gave = 0
        for chunk in chunks:
            if self._live.feed(chunk):
                gave += 1
        if gave:
            self._pieces += gave
            if self.first_token_at is None:
                self.first_token_at = time.time()
        super()._add_chunks(chunks)

    def _finish(self, status: JobStatus, doc: StatusDocument | None = None, **kwargs: Any
                ) -> None:
        if self.first_token_at is None and status is JobStatus.COMPLETED and not self.chunks:
            self.first_token_at = time.time()  # an answer that did not stream
        super()._finish(status, doc, **kwargs)

    def _become(self, *, job_id: str, journal_key: int, request: Any, input: Any,
                note: str) -> None:
        """This reply is the ``/run`` job ``job_id`` from now on (no OpenAI route here)."""
        with self._cond:
            self.id, self.journal_key, self._request = job_id, journal_key, request
            self.input, self.mode, self.note = input, "run", note
        self._changed("tracking")

    def _outcome(self) -> Any:
        if self.request_error is not None and self.is_final:
            raise self.request_error
        return super()._outcome()

    def __repr__(self) -> str:
        short = self.id if len(self.id) <= 14 else self.id[:12] + "…"
        parts = [f"<ChatReply {short} endpoint={self.endpoint_id!r} status={self.status}"]
        usage = self.usage
        if usage is not None and usage.output is not None:
            parts.append(f"{usage.output} tokens")
        if self.ttft is not None:
            parts.append(f"first token {self.ttft:.2f}s")
        if self.cached or self.source == "journal":
            parts.append("(from journal)")
        return " ".join(parts) + ">"


def stream_cut(job: Job) -> StatusDocument:
    """The end of a reply whose stream was cut by its reader stopping (see ``CUT_NOTE``)."""
    return StatusDocument(id=job.id, status=JobStatus.CANCELLED, error=CUT_NOTE)
