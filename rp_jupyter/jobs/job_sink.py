"""``JobSink``: where everything learnt about a job goes, journal first, then the job.

Followers, mirrors and the runtime's actions publish here and nowhere else, so a change
is on disk before any reader (a panel, ``stream()``, ``result()``) can see it.  When the
journal cannot take a write (a full disk, a lock held past the busy timeout), the job is
updated anyway and the write waits in the :class:`JournalBacklog` until the journal
recovers: a finished job always reaches its final state in memory.  A job's cost is
journaled with its final state (see :mod:`rp_jupyter.jobs.cost`), and whoever asked to hear
of ended jobs (``on_final``: the session's ledger) hears of each once it is published.
Engine thread only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from rp_jupyter import formats
from rp_jupyter.api.models import MISSING, JobStatus, StatusDocument
from rp_jupyter.jobs.cost import cost_from_record, final_cost
from rp_jupyter.jobs.downloads import start_saving
from rp_jupyter.jobs.journal_backlog import JournalBacklog
from rp_jupyter.jobs.journal_ownership import LeaseLost
from rp_jupyter.jobs.output_files import use_saved_pictures

if TYPE_CHECKING:
    from rp_jupyter.jobs.job import Job
    from rp_jupyter.jobs.journal import JobJournal
    from rp_jupyter.jobs.journal_records import JobRecord

__all__ = ["JobSink", "reconcile"]

log = logging.getLogger("rp_jupyter.jobs")


class JobSink:
    """Journals, then publishes, what is learnt about jobs (see the module docstring).

    Example::

        await sink.chunks(job, ["Once ", "upon "])   # on disk, then in job.chunks
    """

    def __init__(self, journal: JobJournal,
                 spawn: Callable[[Coroutine[Any, Any, Any]], Any], *,
                 on_final: Callable[[Job], None] | None = None) -> None:
        self.journal = journal
        self.backlog = JournalBacklog(spawn)
        self._on_final = on_final

    async def chunks(self, job: Job, chunks: list[Any]) -> None:
        """New chunks of the job's current attempt, in order.  Raises :class:`LeaseLost`
        (and marks the stream's gap for the new owner) when another process owns the job."""
        key, attempt, start = job.journal_key, job.attempt, job.chunk_count
        if key is not None:
            try:
                await self.backlog.write(
                    key, lambda: self.journal.append_chunks(key, attempt, start, chunks),
                    "chunks")
            except LeaseLost:  # the owner will never see these: its stream has a gap
                self.backlog.add(key, lambda: self.journal.record_stream_gap(
                    key, attempt, f"{len(chunks)} chunk(s) read by a process that had lost "
                    "the job"), "stream gap")
                raise
        queued = job.status is JobStatus.IN_QUEUE
        job._add_chunks(chunks)
        if queued:  # chunks mean it runs: the journal says so too (jobs tables read it)
            self._journal_running(job)

    def status(self, job: Job, status: JobStatus, doc: StatusDocument | None = None) -> bool:
        """A non-final status (and any progress update it carries); True if anything changed."""
        changed = job._apply_status(status, doc)
        key = job.journal_key
        if changed and key is not None:
            fields = {"started_at": job.started_at, "delay_ms": job.delay_ms,
                      "worker_id": job.worker_id}
            self.backlog.add(key, lambda: self.journal.record_status(key, status.value, fields),
                             "status")
        if doc is not None:
            changed |= self.progress(job, doc)
        return changed

    def mirrored_status(self, job: Job, doc: StatusDocument) -> None:
        """A status read for a job another process follows (and journals): shown only."""
        job._apply_status(doc.status, doc)
        self.progress(job, doc, journal=False)

    def progress(self, job: Job, doc: StatusDocument, *, journal: bool = True) -> bool:
        """``/status`` answered IN_PROGRESS with an ``output``: that is a progress update
        (``runpod.serverless.progress_update``), kept as ``job.progress`` and journaled as an
        event, never taken for the result.  True if it is new."""
        progress = doc.output
        if (doc.status is not JobStatus.IN_PROGRESS or progress is MISSING
                or progress is None or progress == [] or progress == job.progress):
            return False
        key = job.journal_key
        if journal and key is not None:
            self.backlog.add(key, lambda: self.journal.record_progress(key, progress),
                             "progress")
        queued = job.status is JobStatus.IN_QUEUE
        new = job._set_progress(progress)
        if queued and journal:
            self._journal_running(job)
        return new

    def _journal_running(self, job: Job) -> None:
        """The job left the queue without a status answer saying so (its first chunks or
        progress showed it): journal IN_PROGRESS, with the time its clock started."""
        key = job.journal_key
        if key is not None and job.status is JobStatus.IN_PROGRESS:
            fields = {"started_at": job.started_at}
            self.backlog.add(key, lambda: self.journal.record_status(
                key, JobStatus.IN_PROGRESS.value, fields), "status")

    async def stream_gap(self, job: Job, cause: BaseException) -> None:
        """A ``/stream`` answer was lost after it may have been sent: its chunks (if any)
        are gone from the server, so the stream may be missing some."""
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        log.info("job %s: a /stream answer was lost (%s); chunks may be missing", job.id, reason)
        key, attempt = job.journal_key, job.attempt
        if key is not None:
            await self.backlog.write(
                key, lambda: self.journal.record_stream_gap(key, attempt, reason), "stream gap")
        job._open_gap()

    async def final(self, job: Job, doc: StatusDocument) -> None:
        """The final document and what the job cost: journaled, then the job is final.  A
        stream with a gap is reconciled from an output that repeats every chunk
        (``return_aggregate_stream``)."""
        if job.is_final:
            return
        gap = job._stream_gap or self._gap_in_journal(job)
        chunks, stream_gap = reconcile(job.chunks, doc.output) if gap else (None, None)
        cost = final_cost(job, doc, journal=self.journal)
        key = job.journal_key
        if key is not None:
            output_json = None if doc.output is MISSING else json.dumps(doc.output)
            delay = doc.delay_ms if doc.delay_ms is not None else job.delay_ms
            started = job.submitted_at + delay / 1000 if delay is not None else job.started_at
            fields = {"delay_ms": delay, "execution_ms": doc.execution_ms,
                      "worker_id": doc.worker_id or job.worker_id, "error": doc.error,
                      "finished_at": time.time(), "started_at": started,
                      **cost.journal_fields()}
            preview = None if doc.output is MISSING else formats.output_preview(doc.output)
            streamed = job.chunks if chunks is None else chunks
            if preview is None and streamed and doc.output in (MISSING, None, []):
                # a listing shows a stream's preview without reading its chunks back
                preview = formats.mask_links_in(formats.stream_preview(streamed))
            if preview is None and output_json is not None and "://" in output_json[:20000]:
                preview = formats.mask_links_in(output_json[:20000])  # no signed URL shown
            replaced = None if chunks is None else (job.attempt, chunks)
            try:
                await self.backlog.write(key, lambda: self.journal.record_final(
                    key, doc.status.value, fields, output_json, preview, chunks=replaced,
                    stream_gap=stream_gap), "final document")
            except LeaseLost:
                pass  # the owner journals the end; what the server said is still true here
            else:
                if doc.output is not MISSING:  # links that expire: their files, saved
                    start_saving(self.journal, key, job.attempt, doc.output)
            self._keep_files(job)
        job.final_cost = cost
        job._finish(doc.status, doc, chunks=chunks, stream_gap=stream_gap)
        self._ended(job)

    async def expire(self, job: Job) -> None:
        """The server no longer knows the job and its result was never fetched."""
        key = job.journal_key
        if key is not None:
            fields = {"note": "the server no longer knows this job; its result was never "
                      "fetched", "finished_at": time.time()}
            try:
                await self.backlog.write(key, lambda: self.journal.record_final(
                    key, JobStatus.EXPIRED.value, fields, None), "expiry")
            except LeaseLost:
                pass
        job._finish(JobStatus.EXPIRED)
        self._ended(job)

    async def lost(self, job: Job) -> None:
        """The local endpoint running the job stopped: it can never finish."""
        key = job.journal_key
        if key is not None:
            await self.backlog.write(key, lambda: self.journal.record_lost(key), "loss")
        job._finish(JobStatus.LOST)
        self._ended(job)

    async def retried(self, job: Job, doc: StatusDocument) -> None:
        """``/retry`` was accepted: a new attempt under the same id."""
        attempt = job.attempt + 1
        key = job.journal_key
        if key is not None:
            future = None

            def record() -> Any:
                nonlocal future
                future = self.journal.record_retry(key, doc.status.value)
                return future

            if await self.backlog.write(key, record, "retry") and future is not None:
                attempt = future.result()
        job._restart(attempt)
        job._apply_status(doc.status, doc)

    def catch_up(self, job: Job, record: JobRecord) -> None:
        """This process takes over following ``job``: take the chunks the previous owner
        journaled meanwhile, so new ones are appended after them."""
        if record.attempt != job.attempt:
            return
        stored, have = record.chunks(), job.chunks
        if stored[:len(have)] == have and len(stored) > len(have):
            job._add_chunks(stored[len(have):])
        if record.stream_gap:
            job._open_gap()

    def from_record(self, job: Job, record: JobRecord) -> None:
        """End ``job`` as the journal has it (another process followed it to the end)."""
        same_attempt = record.attempt == job.attempt
        stored = record.chunks() if same_attempt else []
        have = job.chunks
        replaced = None
        if stored[:len(have)] == have:
            if len(stored) > len(have):
                job._add_chunks(stored[len(have):])
        else:  # reconciled there: take the journal's stream whole
            replaced = stored
        status = JobStatus.parse(record.status)
        job.final_cost = cost_from_record(record)
        self._keep_files(job)
        job._finish(status, StatusDocument(
            id=job.id, status=status, delay_ms=record.delay_ms,
            execution_ms=record.execution_ms, worker_id=record.worker_id,
            output=record.output(), error=record.error),
            chunks=replaced, stream_gap=record.stream_gap if same_attempt else None)
        self._ended(job)

    def _keep_files(self, job: Job) -> None:
        """``job.files`` and its pictures come from this journal's saved copies."""
        job._files_journal = self.journal
        use_saved_pictures(self.journal)

    def _ended(self, job: Job) -> None:
        if self._on_final is None:
            return
        try:
            self._on_final(job)
        except Exception:  # a ledger in trouble must not stop a job from ending
            log.exception("could not count job %s as ended", job.id)

    def _gap_in_journal(self, job: Job) -> bool:
        """Another process may have marked a gap (it read chunks after losing the job)."""
        if job.journal_key is None:
            return False
        try:
            record = self.journal.get(job.journal_key)
        except Exception:
            return False
        return record is not None and record.stream_gap and record.attempt == job.attempt


def reconcile(chunks: list[Any], output: Any) -> tuple[list[Any] | None, bool]:
    """A stream with a gap, at the end: ``(all chunks, False)`` when the output repeats every
    chunk (``return_aggregate_stream``: the list of every yield, ours among them in order),
    ``(None, False)`` if that shows none was missing; ``(None, False)`` too when the job
    never streamed (an output that is not a list, and no chunks); else ``(None, True)``:
    the gap stays."""
    if isinstance(output, list) and output and _in_order_within(chunks, output):
        return (None if output == chunks else list(output)), False
    if output is not MISSING and output is not None and not isinstance(output, list) \
            and not chunks:
        return None, False
    return None, True


def _in_order_within(part: list[Any], whole: list[Any]) -> bool:
    """Whether ``part`` is ``whole`` with some items left out (order kept)."""
    found = iter(whole)
    return all(any(item == candidate for candidate in found) for item in part)
