"""``Job``: a handle on one Runpod job, safe to use from any thread or event loop.

Reading, waiting, streaming and acting live here; the state itself, its updates from the
engine thread and the subscriptions are in :mod:`rp_jupyter.jobs.job_state`.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING, Any

from rp_jupyter import formats
from rp_jupyter.api.errors import (
    InvalidRequestError,
    JobCancelledError,
    JobExpiredError,
    JobFailedError,
    JobLostError,
    JobTimedOutError,
    StreamGapWarning,
    WaitTimeoutError,
)
from rp_jupyter.api.models import MISSING, JobStatus
from rp_jupyter.jobs.downloads import wait_saved
from rp_jupyter.jobs.job_state import JobEvent, JobState
from rp_jupyter.jobs.output_files import SavedFile, saved_files

if TYPE_CHECKING:
    from rp_jupyter.api.request import JobRequest
    from rp_jupyter.jobs.backend import JobBackend
    from rp_jupyter.jobs.cost import Cost
    from rp_jupyter.jobs.journal import JobJournal

__all__ = ["Job", "JobEvent"]


class Job(JobState):
    """A Runpod job: its status, timings, streamed chunks and result.

    Returned by :meth:`Endpoint.run`, :meth:`Endpoint.run_sync` and :meth:`Endpoint.job`; the
    engine follows it until it is final whether or not anyone waits, and journals every
    chunk and the result.  ``job.progress`` is the worker's latest progress update
    (``runpod.serverless.progress_update``), never mistaken for the output; ``job.text``,
    ``job.images`` and ``job.embeddings`` read the output as what it is (see
    :mod:`rp_jupyter.formats`).

    Example::

        job = endpoint.run({"prompt": "Tell me a story"})
        for token in job.stream():       # every chunk once, in order, even when called late
            print(token, end="")
        print(job.status, job.execution_ms)
        output = job.result()             # or: output = await job
    """

    def __init__(
        self,
        backend: JobBackend | None,
        *,
        job_id: str,
        endpoint_id: str,
        base_url: str,
        mode: str,
        input: Any,
        request: JobRequest | None = None,
        journal_key: int | None = None,
        status: JobStatus = JobStatus.IN_QUEUE,
        submitted_at: float | None = None,
        attempt: int = 1,
        source: str = "server",
    ) -> None:
        super().__init__(backend, status=status, submitted_at=submitted_at, attempt=attempt)
        self.id = job_id
        self.endpoint_id = endpoint_id
        self.base_url = base_url
        self.mode = mode
        self.input = input
        self.source = source  # "server", or "journal" when read back without a request
        self.cached = False  # True when answered from the journal by cache="use"
        self.journal_key = journal_key
        self._request = request
        self._files_journal: JobJournal | None = None

    # -- reading -------------------------------------------------------------------------

    @property
    def chunks(self) -> list[Any]:
        """A copy of every chunk streamed so far (this attempt)."""
        with self._cond:
            return list(self._chunks)

    @property
    def chunk_count(self) -> int:
        return len(self._chunks)

    @property
    def stream_complete(self) -> bool:
        """False while chunks of this attempt may be missing: a ``/stream`` answer was lost
        after the server handed its chunks out (each is handed out once).  A
        ``return_aggregate_stream`` output fills the gap when the job ends; without one the
        gap stays, and ``result()`` and ``stream()`` warn (:class:`StreamGapWarning`)."""
        return not self._stream_gap

    @property
    def text(self) -> str | None:
        """The text the job produced, so far or in the end: a model's reply (vLLM token
        batches, OpenAI objects or event streams), a transcript, text chunks joined, or a
        text output.  ``None`` when it produced something else.

        Example: a token stream ``["Once ", "upon ", "a ", "time"]`` gives ``"Once upon a time"``;
        vLLM batches ``{"choices": [{"tokens": ["Once", " upon"]}], ...}`` give ``"Once upon"``.
        """
        return formats.job_text(self._output_or_none(), self.chunks)

    @property
    def reading(self) -> formats.Reading | None:
        """What the output is, read by :mod:`rp_jupyter.formats`: a ``Reply`` (text, finish
        reason, token usage), an ``ImageSet``, a ``Transcript``, ``Embeddings``, or ``None``.

        Example: ``job.reading.usage.output`` is the number of tokens a vLLM job generated.
        """
        return formats.read_job(self._output_or_none(), self.chunks)

    @property
    def images(self) -> list[Any]:
        """The pictures the job produced, as Pillow images (ComfyUI, SDXL, public endpoints,
        a picture output, or the newest frame of a picture stream); ``[]`` when none.
        Pictures given as URLs are fetched; ``ValueError`` says which one could not be."""
        refs = formats.job_image_refs(self._output_or_none(), self.chunks)
        return [formats.open_image(ref) for ref in refs]

    @property
    def files(self) -> list[SavedFile]:
        """The files behind the output's links (presigned S3 URLs, public endpoints'
        result URLs), saved into the journal's folder when the job ended, so they outlive
        the link; waits up to 30 s for downloads still under way.  ``[]`` when none."""
        self.wait_files(30)
        journal = self._journal_for_files()
        if journal is None or self.journal_key is None:
            return []
        return saved_files(journal, self.journal_key)

    def wait_files(self, timeout: float | None = None) -> bool:
        """Wait until the files behind the output's links are saved; False on timeout."""
        journal = self._journal_for_files()
        if journal is None or self.journal_key is None:
            return True
        return wait_saved(journal, self.journal_key, timeout)

    def _journal_for_files(self) -> JobJournal | None:
        if self._files_journal is None and self.journal_key is not None:
            from rp_jupyter.jobs.journal import JobJournal

            self._files_journal = JobJournal.open()
        return self._files_journal

    @property
    def embeddings(self) -> Any:
        """The vectors of an embeddings job: a numpy array (count × dimensions) when numpy
        is installed, else a list of lists; ``None`` for other jobs."""
        found = formats.job_embeddings(self._output_or_none(), self.chunks)
        return None if found is None else found.as_array()

    def _output_or_none(self) -> Any:
        output = self.output
        return None if output is MISSING else output

    def chunks_since(self, start: int) -> tuple[int, list[Any]]:
        """``(attempt, chunks[start:])`` read together, so a reader that keeps its place
        (a panel) copies only what is new and notices a retry (the attempt changes)."""
        with self._cond:
            return self.attempt, self._chunks[start:]

    @property
    def elapsed(self) -> float:
        """Wall-clock seconds from submission to the final state (or to now)."""
        return (self.finished_at or time.time()) - self.submitted_at

    @property
    def queue_seconds(self) -> float:
        """Time spent waiting for a worker: the server's ``delayTime`` once known, else live."""
        if self.delay_ms is not None:
            return self.delay_ms / 1000
        end = self.started_at or self.finished_at or time.time()
        return max(0.0, end - self.submitted_at)

    @property
    def run_seconds(self) -> float | None:
        """Time on the worker: the server's ``executionTime`` once known, else live."""
        if self.execution_ms is not None:
            return self.execution_ms / 1000
        if self.started_at is None:
            return None
        return max(0.0, (self.finished_at or time.time()) - self.started_at)

    @property
    def cost(self) -> Cost:
        """What the job cost (or costs so far while it runs): its execution seconds times
        its endpoint's price, or its own ``output.cost``; ``job.cost.dollars`` is ``None``
        when that is unknown (see :mod:`rp_jupyter.jobs.cost`).

        Example: ``job.cost.describe()`` gives ``"cost $0.0021 · 2.7 s × $0.00076/s ..."``.
        """
        from rp_jupyter.jobs.cost import job_cost

        return job_cost(self)

    @property
    def request(self) -> JobRequest | None:
        return self._request

    def result(self, timeout: float | None = None) -> Any:
        """Wait until the job is final; return its output or raise a :class:`JobError`.

        For a streaming handler whose final output is empty (no ``return_aggregate_stream``),
        the output is the list of streamed chunks.  ``timeout`` (seconds) bounds the wait
        and raises :class:`WaitTimeoutError`; the job itself goes on.
        """
        if not self.wait(timeout):
            raise WaitTimeoutError(
                f"job {self.id} is still {self.status} after {timeout:g} s",
                hint="call result() again, or cancel() it",
            )
        return self._outcome()

    async def aresult(self, timeout: float | None = None) -> Any:
        """Async twin of :meth:`result`."""
        if not await self.await_final(timeout):
            raise WaitTimeoutError(f"job {self.id} is still {self.status} after {timeout:g} s")
        return self._outcome()

    def __await__(self) -> Generator[Any, None, Any]:
        return self.aresult().__await__()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until final (True) or until ``timeout`` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.is_final or self._fatal is not None, timeout)

    async def await_final(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            version = self._version  # read first: a change after this wakes us at once
            if self.is_final or self._fatal is not None:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._next_change(version), remaining)
            except asyncio.TimeoutError:
                return False

    def stream(self, timeout: float | None = None) -> Iterator[Any]:
        """Yield every chunk of this attempt exactly once, in order, until the job is final.

        Starts from the first chunk even when called late.  ``timeout`` bounds each wait for
        the next chunk.  A ``retry()`` ends the stream of the attempt before it.
        """
        with self._cond:
            attempt, chunks = self.attempt, self._chunks
        index = 0
        self._watch(+1)
        try:
            while True:
                with self._cond:
                    ready = self._cond.wait_for(
                        lambda i=index: len(chunks) > i or self._stream_over(attempt), timeout
                    )
                    new = chunks[index:]
                    over = self._stream_over(attempt)
                if not ready:
                    raise WaitTimeoutError(f"no chunk from job {self.id} for {timeout:g} s")
                yield from new
                index += len(new)
                if over and index >= len(chunks):
                    self._raise_fatal(attempt)
                    self._warn_if_gap(attempt, chunks, stacklevel=2)
                    return
        finally:
            self._watch(-1)

    async def astream(self) -> AsyncIterator[Any]:
        """Async twin of :meth:`stream`."""
        with self._cond:
            attempt, chunks = self.attempt, self._chunks
        index = 0
        self._watch(+1)
        try:
            while True:
                with self._cond:
                    version = self._version
                    new = chunks[index:]
                    over = self._stream_over(attempt)
                for chunk in new:
                    yield chunk
                index += len(new)
                if over and index >= len(chunks):
                    self._raise_fatal(attempt)
                    self._warn_if_gap(attempt, chunks, stacklevel=2)
                    return
                if not new:
                    await self._next_change(version)
        finally:
            self._watch(-1)

    def text_stream(self, timeout: float | None = None) -> Iterator[str]:
        """The job's text as it is produced, piece by piece, whatever shape the worker
        streams it in (text chunks, vLLM token batches, OpenAI chunks, event-stream text
        split anywhere); a job that does not stream gives its whole text at the end.

        Example::

            for piece in job.text_stream():
                print(piece, end="", flush=True)
        """
        pieces = _TextPieces()
        for chunk in self.stream(timeout):
            if piece := pieces.of(chunk):
                yield piece
        if rest := pieces.rest(self):
            yield rest

    async def atext_stream(self) -> AsyncIterator[str]:
        """Async twin of :meth:`text_stream`."""
        pieces = _TextPieces()
        async for chunk in self.astream():
            if piece := pieces.of(chunk):
                yield piece
        if rest := pieces.rest(self):
            yield rest

    # -- acting --------------------------------------------------------------------------

    def refresh(self) -> Job:
        """Ask the server for the current status now (a final job has nothing to ask)."""
        if not self.is_final:
            self._backend_or_raise().call(lambda b: b.refresh(self))
        return self

    async def arefresh(self) -> Job:
        if not self.is_final:
            await self._backend_or_raise().acall(lambda b: b.refresh(self))
        return self

    def cancel(self) -> Job:
        """Cancel the job (a queued one is removed, a running one stopped)."""
        if not self.is_final:
            self._backend_or_raise().call(lambda b: b.cancel(self))
        return self

    async def acancel(self) -> Job:
        if not self.is_final:
            await self._backend_or_raise().acall(lambda b: b.cancel(self))
        return self

    def retry(self) -> Job:
        """Requeue a FAILED or TIMED_OUT job under the same id (``/retry``)."""
        self._check_retryable()
        self._backend_or_raise().call(lambda b: b.retry(self))
        return self

    async def aretry(self) -> Job:
        self._check_retryable()
        await self._backend_or_raise().acall(lambda b: b.retry(self))
        return self

    def rerun(self) -> Job:
        """Submit the same input and options again, as a new job."""
        return self._backend_or_raise().call(lambda b: b.rerun(self))

    async def arerun(self) -> Job:
        return await self._backend_or_raise().acall(lambda b: b.rerun(self))

    # -- display -------------------------------------------------------------------------

    def __repr__(self) -> str:
        short = self.id if len(self.id) <= 12 else self.id[:8] + "…"
        extra = " (from journal)" if self.cached or self.source == "journal" else ""
        return (f"<Job {short} endpoint={self.endpoint_id!r} status={self.status}"
                f" elapsed={self.elapsed:.1f}s{extra}>")

    # -- helpers -------------------------------------------------------------------------

    def _stream_over(self, attempt: int) -> bool:
        return attempt != self.attempt or self.is_final or self._fatal is not None

    def _raise_fatal(self, attempt: int) -> None:
        if self._fatal is not None and not self.is_final and attempt == self.attempt:
            raise self._fatal

    def _warn_if_gap(self, attempt: int, seen: list[Any], *, stacklevel: int) -> None:
        """Say so when the chunks ``seen`` (a reader's list) may miss some."""
        with self._cond:
            same = attempt == self.attempt
            open_gap, rebuilt = self._stream_gap, seen is not self._chunks
        if not same:
            return
        if open_gap:
            message = (f"job {self.id}: the stream may be missing chunks (a /stream answer was "
                       "lost after the server sent it, and the output does not repeat them; "
                       "a worker with return_aggregate_stream would)")
        elif rebuilt:
            message = (f"job {self.id}: the chunks read here may miss some (a /stream answer "
                       "was lost); job.chunks and result() hold the whole stream, rebuilt "
                       "from the final output")
        else:
            return
        warnings.warn(StreamGapWarning(message, job_id=self.id), stacklevel=stacklevel + 1)

    def _outcome(self) -> Any:
        if self._fatal is not None and not self.is_final:
            raise self._fatal
        status = self.status
        if status is JobStatus.COMPLETED:
            self._warn_if_gap(self.attempt, self._chunks, stacklevel=3)
            output = None if self.output is MISSING else self.output
            if (output is None or output == []) and self._chunks:
                return list(self._chunks)
            return output
        if status is JobStatus.FAILED:
            raise JobFailedError(self.id, self.error, output=_present(self.output))
        if status is JobStatus.CANCELLED:
            raise JobCancelledError(self.id)
        if status is JobStatus.TIMED_OUT:
            raise JobTimedOutError(self.id)
        if status is JobStatus.LOST:
            raise JobLostError(self.id, self.base_url)
        raise JobExpiredError(self.id)

    def _check_retryable(self) -> None:
        if self.status not in (JobStatus.FAILED, JobStatus.TIMED_OUT):
            raise InvalidRequestError(
                f"job {self.id} is {self.status}; only FAILED or TIMED_OUT jobs can be retried",
                hint="use job.rerun() to submit the same input again as a new job",
            )

    def _backend_or_raise(self) -> JobBackend:
        if self._backend is None:
            raise InvalidRequestError(
                f"job {self.id} was read from the journal without an endpoint",
                hint="attach it with rp_jupyter.Endpoint(endpoint_id, ...).job(job_id)",
            )
        return self._backend


class _TextPieces:
    """Chunks to text pieces, for :meth:`Job.text_stream` and its async twin."""

    def __init__(self) -> None:
        self._reader = formats.ReplyStream(keep_text=False)
        self._given = False

    def of(self, chunk: Any) -> str:
        piece = self._reader.feed(chunk) or ""
        self._given = self._given or bool(piece)
        return piece

    def rest(self, job: Job) -> str:
        """What is left once the stream is over: a cut last piece, or the whole text of a
        job that gave none while streaming."""
        rest = self._reader.finish()
        return rest if rest or self._given else (job.text or "")


def _present(value: Any) -> Any:
    return None if value is MISSING else value
