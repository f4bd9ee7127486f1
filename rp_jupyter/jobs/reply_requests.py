"""``ReplyRequests``: the engine side of chat and completion replies for one endpoint.

A request to the OpenAI route is one more kind of request on the engine and the journal:
it is journaled before it is sent (mode ``chat`` or ``completion``, under an id the client
chooses), its stream is read on the engine, and each batch of chunk objects goes through
the :class:`~rp_jupyter.jobs.job_sink.JobSink` (journal first, then the reply), as a
follower's do; the whole ``chat.completion`` is its output.  A reply is a job for the
budget too: refused before anything is sent when it would pass a limit, counted in the
session's spending, its cost (its time from the first token to the end, at the endpoint's
price) journaled with its end.  Cancelling closes the stream
(the server stops a job whose client hangs up) and asks the server to cancel that job too.

An endpoint without the route (404) gets the request once more, as a ``/run`` job with the
vLLM worker's native input: the reply becomes that job, followed like any other, and says
so; later requests to that endpoint go to ``/run`` at once.  Implements the
:class:`~rp_jupyter.jobs.backend.JobBackend` its replies call.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rp_jupyter import formats
from rp_jupyter.api.errors import (
    APIConnectionError,
    APIStatusError,
    InvalidRequestError,
    RouteNotFoundError,
    RunpodError,
)
from rp_jupyter.api.models import MISSING, JobStatus, StatusDocument
from rp_jupyter.api.openai_request import OpenAIRequest, rebuild_openai_request
from rp_jupyter.api.openai_route import OpenAIRoute
from rp_jupyter.jobs.budget import admit
from rp_jupyter.jobs.chat_reply import NO_ROUTE_NOTE, ChatReply
from rp_jupyter.jobs.runtime import job_from_record
from rp_jupyter.jobs.session import session_of
from rp_jupyter.jobs.tracking_policy import REPLY_CANCEL_TIMEOUT

if TYPE_CHECKING:
    from rp_jupyter.api.request import JobRequest
    from rp_jupyter.jobs.runtime import EndpointRuntime

__all__ = ["ReplyRequests"]

log = logging.getLogger("rp_jupyter.jobs")
T = TypeVar("T")
CUT_SHORT = "the stream ended before the reply did (no data: [DONE] and no finish reason)"


class ReplyRequests:
    """See the module docstring.  Engine thread only, but for :meth:`call`.

    Example::

        reply = await ReplyRequests(runtime).send(build_openai_request("chat", messages))
    """

    def __init__(self, runtime: EndpointRuntime, *, cache_scope: str | None = None) -> None:
        self.runtime = runtime
        self.cache_scope = cache_scope  # the endpoint's (a local endpoint's handler)
        self.route = OpenAIRoute(runtime.client)

    # -- the JobBackend bridge -----------------------------------------------------------

    def call(self, fn: Callable[[ReplyRequests], Awaitable[T]]) -> T:
        engine = self.runtime.engine
        if engine.on_engine_thread:
            raise engine.blocking_call_error()
        return engine.call(_as_coro(fn(self)))

    async def acall(self, fn: Callable[[ReplyRequests], Awaitable[T]]) -> T:
        return await self.runtime.engine.acall(_as_coro(fn(self)))

    async def refresh(self, job: Any) -> None:
        """Nothing to ask: the stream brings everything there is."""

    async def cancel(self, job: Any) -> None:
        """Close the reply's stream (it ends CANCELLED, its text so far kept), then ask the
        server to cancel the job it ran for it."""
        task = getattr(job, "_reader", None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})
        server_id = getattr(job, "server_job_id", None)
        if server_id:
            try:
                await asyncio.wait_for(self.runtime.client.cancel(server_id),
                                       REPLY_CANCEL_TIMEOUT)
            except (RunpodError, asyncio.TimeoutError):
                pass  # the closed stream stops it already; this only makes sure

    async def retry(self, job: Any) -> None:
        raise InvalidRequestError(
            f"reply {job.id} came from the OpenAI route, which has no /retry",
            hint="reply.rerun() asks the same question again, as a new reply")

    async def rerun(self, job: Any) -> ChatReply:
        request = job.request if isinstance(job.request, OpenAIRequest) else \
            rebuild_openai_request(job.input, cache_scope=self.cache_scope)
        return await self.send(request)

    def watch(self, job: Any) -> None:
        """Nothing to do: a reply's stream is read whether or not anyone looks."""

    # -- sending ---------------------------------------------------------------------------

    async def send(self, request: OpenAIRequest, *, cache: str = "off") -> ChatReply:
        """Journal the request and start reading its reply (or answer it from the journal
        with ``cache="use"``); returns the reply at once."""
        runtime = self.runtime
        if cache == "use":
            record = runtime.journal.find_reusable(runtime.base_url, runtime.endpoint_id,
                                                   request.request_hash, request.cache_scope)
            if record is not None:
                backend = runtime if record.mode == "run" else self
                reply = job_from_record(record, backend, handle=ChatReply)
                reply.cached, reply.route = True, request.route
                if record.mode == "run":
                    reply.note = NO_ROUTE_NOTE
                return reply  # type: ignore[return-value]
        session = session_of(runtime.engine)  # a reply is a job: the budget may refuse it
        admit(session, runtime.endpoint_id, runtime.base_url, journal=runtime.journal)
        if runtime.traits.openai_route is False:
            reply = await self._send_to_run(request)
            session.track(reply)
            return reply
        job_id = f"{request.kind}-{uuid.uuid4()}"
        key = await runtime.journal_request(request, mode=request.kind, job_id=job_id)
        reply = ChatReply(self, job_id=job_id, endpoint_id=runtime.endpoint_id,
                          base_url=runtime.base_url, mode=request.kind,
                          input=request.redacted["input"], request=request, journal_key=key,
                          status=JobStatus.IN_QUEUE, submitted_at=time.time(),
                          route=request.route)
        runtime._register(reply)
        session.track(reply)
        reply._reader = runtime.engine.spawn(self._read(reply, request))
        return reply

    async def _read(self, reply: ChatReply, request: OpenAIRequest) -> None:
        """Read the reply to its end and publish it; no exception escapes."""
        try:
            if request.stream:
                await self._read_stream(reply, request)
            else:
                await self._read_answer(reply, request)
        except asyncio.CancelledError:
            await self._end(reply, JobStatus.CANCELLED, error="cancelled")
            raise
        except RouteNotFoundError as exc:
            if reply.chunk_count:
                await self._fail(reply, exc)
                return
            self.runtime.traits.openai_route = False
            await self._fall_back(reply, request, exc)
        except RunpodError as exc:
            await self._fail(reply, exc)
        except Exception as exc:  # a journal in trouble, a reply of an unexpected shape
            log.warning("reading reply %s failed", reply.id, exc_info=True)
            await self._fail(reply, exc)

    async def _read_stream(self, reply: ChatReply, request: OpenAIRequest) -> None:
        sink = self.runtime.sink
        error: Any = None
        async with self.route.stream(request.route, request.encoded,
                                     secrets=request.secrets) as events:
            reply.server_job_id = events.request_id
            self.runtime.traits.openai_route = True
            sink.status(reply, JobStatus.IN_PROGRESS)
            async for batch in events.batches():
                error = error or next((v for v in batch if formats.error_message(v)), None)
                await _shielded(sink.chunks(reply, batch))
            done = events.done
        output = formats.assemble_completion(reply.chunks, chat=request.kind == "chat")
        if error is not None:
            await self._end(reply, JobStatus.FAILED, error=error, output=output)
        elif done or _finished(output):
            await self._end(reply, JobStatus.COMPLETED, output=output)
        else:
            await self._end(reply, JobStatus.FAILED, error=CUT_SHORT, output=output)

    async def _read_answer(self, reply: ChatReply, request: OpenAIRequest) -> None:
        answer, server_id = await self.route.answer(request.route, request.encoded,
                                                    secrets=request.secrets)
        reply.server_job_id = server_id
        self.runtime.traits.openai_route = True
        if formats.error_message(answer):
            await self._end(reply, JobStatus.FAILED, error=answer, output=answer)
        else:
            await self._end(reply, JobStatus.COMPLETED, output=answer)

    async def _end(self, reply: ChatReply, status: JobStatus, *, error: Any = None,
                   output: Any = MISSING) -> None:
        """The final document (journal first, then the reply): the time to the first token
        as its delay, the time from there to the end as its execution."""
        now = time.time()
        first = reply.first_token_at or (now if status is JobStatus.COMPLETED else None)
        delay = round((first - reply.submitted_at) * 1000) if first is not None else None
        execution = round((now - first) * 1000) if first is not None else None
        doc = StatusDocument(id=reply.id, status=status, delay_ms=delay, execution_ms=execution,
                             output=output if output is not None else MISSING, error=error)
        await _shielded(self.runtime.sink.final(reply, doc))

    async def _fail(self, reply: ChatReply, exc: BaseException) -> None:
        """The request got no (whole) answer: journaled, then shown on the reply; its
        ``result()`` raises ``exc``."""
        runtime = self.runtime
        text = runtime.client.redactor.text(str(exc).splitlines()[0] if str(exc)
                                            else type(exc).__name__)
        if isinstance(exc, RunpodError):
            reply.request_error = exc
        if reply.chunk_count or reply.server_job_id:  # it had begun: an error mid-way
            await self._end(reply, JobStatus.FAILED, error=text)
            return
        key = reply.journal_key
        maybe_sent = isinstance(exc, (APIConnectionError, APIStatusError)) and exc.maybe_sent
        if key is not None:
            await runtime.sink.backlog.write(key, lambda: runtime.journal.record_submit_failed(
                key, text, maybe_sent=maybe_sent), "submit failure")
        reply._finish(JobStatus.FAILED, StatusDocument(id=reply.id, status=JobStatus.FAILED,
                                                       error=text))

    # -- no OpenAI route: /run ---------------------------------------------------------------

    async def _fall_back(self, reply: ChatReply, request: OpenAIRequest,
                         cause: RouteNotFoundError) -> None:
        """The endpoint has no OpenAI route: the chat record says so, and the reply becomes
        a ``/run`` job asking the same with the worker's native input."""
        runtime = self.runtime
        key = reply.journal_key
        if key is not None:
            await runtime.sink.backlog.write(key, lambda: runtime.journal.record_submit_failed(
                key, "no OpenAI route (404): sent as a /run job instead", maybe_sent=False),
                "submit failure")
        try:
            native = request.native()
            run_key, doc = await asyncio.shield(self._submit_native(native))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reply.journal_key = None  # the chat record holds its end already
            await self._fail(reply, exc)
            return
        reply._become(job_id=doc.id, journal_key=run_key, request=native,
                      input=native.redacted["input"], note=NO_ROUTE_NOTE)
        self._follow(reply, doc)

    async def _send_to_run(self, request: OpenAIRequest) -> ChatReply:
        """An endpoint known to have no OpenAI route: the request goes to ``/run`` at once."""
        runtime = self.runtime
        native = request.native()
        sent_at = time.time()
        key, doc = await self._submit_native(native)
        reply = ChatReply(runtime, job_id=doc.id, endpoint_id=runtime.endpoint_id,
                          base_url=runtime.base_url, mode="run", input=native.redacted["input"],
                          request=native, journal_key=key, status=JobStatus.IN_QUEUE,
                          submitted_at=sent_at, route=request.route, note=NO_ROUTE_NOTE)
        self._follow(reply, doc)
        return reply

    async def _submit_native(self, native: JobRequest) -> tuple[int, StatusDocument]:
        """Journal and send a ``/run`` with the native input: ``(its record, the answer)``."""
        runtime = self.runtime
        journal = runtime.journal
        key = await runtime.journal_request(native, mode="run")
        sent_at = time.time()
        try:
            doc = await runtime.client.run(native.encoded, secrets=native.secrets)
        except BaseException as exc:
            maybe_sent = isinstance(exc, asyncio.CancelledError) or (
                isinstance(exc, (APIConnectionError, APIStatusError)) and exc.maybe_sent)
            error = runtime.client.redactor.text(str(exc) or type(exc).__name__)
            await runtime.sink.backlog.write(key, lambda: journal.record_submit_failed(
                key, error, maybe_sent=maybe_sent), "submit failure")
            raise
        await runtime.sink.backlog.write(
            key, lambda: journal.record_submitted(key, doc.id, doc.status.value, sent_at),
            "job id")
        runtime.sink.backlog.add(key, lambda: journal.record_note(key, NO_ROUTE_NOTE), "note")
        return key, doc

    def _follow(self, reply: ChatReply, doc: StatusDocument) -> None:
        runtime = self.runtime
        runtime._register(reply)
        if doc.status.is_final:
            reply._follow_with(runtime)
            runtime.engine.spawn(runtime.complete(reply, doc))
        else:
            reply._apply_status(doc.status, doc)
            runtime.sink.progress(reply, doc)
            runtime.follow(reply)


def _finished(output: Any) -> bool:
    """Every choice of an assembled reply has its finish reason."""
    if not isinstance(output, dict) or not output.get("choices"):
        return False
    return all(choice.get("finish_reason") for choice in output["choices"])


async def _shielded(work: Awaitable[T]) -> T:
    """``work`` runs to its end even if the reader is cancelled meanwhile (a journal write
    half done would leave the journal and the reply disagreeing); the cancel comes after."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        raise


async def _as_coro(awaitable: Awaitable[T]) -> T:
    return await awaitable
