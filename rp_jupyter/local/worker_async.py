"""A worker that runs several jobs at once, as runpod-python does for a worker config
with ``concurrency_modifier`` (``rp_scale.JobScaler``).

Before each job-take the modifier says how many jobs this worker may hold; the worker asks
for the missing ones in one batch request and runs each job as a task on one event loop.
As in runpod-python, that overlaps jobs of async handlers (coroutines and async
generators); a plain function blocks the loop while it runs.  A job the server stops
(cancel, execution timeout) arrives on the job-stop long-poll and only its task is
cancelled; the other jobs go on.
"""

from __future__ import annotations

import asyncio
import http.client
import inspect
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from rp_jupyter.local.handler_spec import handler_kind
from rp_jupyter.local.job_results import (
    StreamCollector,
    encode,
    exception_error,
    finish_result,
    result_of_return,
)
from rp_jupyter.local.worker_link import ChunkSender, ServerLink, stream_path, take_path

MAX_CONCURRENCY = 1000
#: give up when the server has been unreachable this long (it was stopped or killed)
SERVER_GONE_AFTER = 10.0
STOPPED_ERROR = "job stopped by the server"


class LinkPool:
    """Keep-alive connections for the worker's reports, one per thread that needs one."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._idle: list[ServerLink] = []
        self._lock = threading.Lock()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        with self._lock:
            link = self._idle.pop() if self._idle else ServerLink(self._config, timeout=30.0)
        try:
            return link.request(method, path, body)
        finally:
            with self._lock:
                self._idle.append(link)


class ConcurrentWorker:
    """Takes jobs in batches and runs up to ``concurrency_modifier(current)`` at once."""

    def __init__(self, handler: Callable[..., Any], config: dict[str, Any],
                 options: dict[str, Any]) -> None:
        self.handler = handler
        self.kind = handler_kind(handler)
        self.config = config
        self.worker_id: str = config["worker_id"]
        self.modifier: Callable[[int], int] = options["concurrency_modifier"]
        self.aggregate = bool(config.get("aggregate") or options.get("return_aggregate_stream"))
        self.refresh = bool(options.get("refresh_worker"))
        self.wait = float(config.get("poll_wait", 30.0))
        self.concurrency = 1
        self.tasks: dict[str, asyncio.Task] = {}
        self.reports = LinkPool(config)
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> int:
        """Serve jobs until the server goes away or retires this worker."""
        return asyncio.run(self._serve())

    def scale(self) -> int:
        """The number of jobs this worker may hold now (the modifier of the current one)."""
        try:
            wanted = int(self.modifier(self.concurrency))
        except Exception:
            wanted = self.concurrency
        self.concurrency = max(1, min(MAX_CONCURRENCY, wanted))
        return self.concurrency

    async def _serve(self) -> int:
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._watch_stops, name="rp-local-stops", daemon=True).start()
        link = ServerLink(self.config, timeout=self.wait + 30.0)
        unreachable_since: float | None = None
        try:
            while True:
                free = self.scale() - len(self.tasks)
                if free <= 0:
                    await asyncio.wait(set(self.tasks.values()),
                                       return_when=asyncio.FIRST_COMPLETED)
                    continue
                path = take_path(self.worker_id, self.wait, in_progress=bool(self.tasks),
                                 batch=free)
                try:
                    status, body = await asyncio.to_thread(link.request, "GET", path)
                except (OSError, http.client.HTTPException):
                    now = time.monotonic()
                    unreachable_since = unreachable_since or now
                    if now - unreachable_since > SERVER_GONE_AFTER:
                        return 0
                    await asyncio.sleep(0.2)
                    continue
                unreachable_since = None
                if status == 200:
                    jobs = json.loads(body)
                    for job in jobs if isinstance(jobs, list) else [jobs]:
                        self.tasks[job["id"]] = asyncio.create_task(self._run(job))
                elif status == 410:  # retired: finish what runs, then leave
                    if self.tasks:
                        await asyncio.wait(set(self.tasks.values()))
                    return 0
                elif status != 204:
                    await asyncio.sleep(0.5)
        finally:
            link.close()

    # -- one job -----------------------------------------------------------------------

    async def _run(self, job: dict[str, Any]) -> None:
        is_stream = self.kind in ("generator", "async_generator")
        try:
            try:
                result = await (self._generator(job) if is_stream else self._plain(job))
            except asyncio.CancelledError:
                result = {"error": STOPPED_ERROR}  # the server has ended the job already
            finish_result(result, self.refresh)
            try:
                body = encode(result).encode()
            except (TypeError, ValueError) as err:
                body = encode({"error": f"handler output is not JSON serializable: {err}"}
                               ).encode()
            path = (f"/job-done/{self.worker_id}/{job['id']}"
                    f"?isStream={str(is_stream).lower()}")
            try:
                await asyncio.to_thread(self.reports.request, "POST", path, body)
            except (OSError, http.client.HTTPException):
                pass
        finally:
            self.tasks.pop(job["id"], None)

    async def _plain(self, job: dict[str, Any]) -> dict[str, Any]:
        try:
            value = self.handler(job)
            if inspect.isawaitable(value):
                value = await value
            return result_of_return(value)
        except Exception as err:
            return {"error": exception_error(err, self.worker_id)}

    async def _generator(self, job: dict[str, Any]) -> dict[str, Any]:
        stream = StreamCollector(ChunkSender(self.config, stream_path(self.worker_id, job)),
                                 self.aggregate)
        try:
            items = self.handler(job)
            if self.kind == "async_generator":
                try:
                    async for item in items:
                        if not stream.take(item):
                            break
                finally:
                    await items.aclose()
            else:
                for item in items:
                    if not stream.take(item):
                        break
        except Exception as err:
            stream.fail(err)
        finally:
            await asyncio.to_thread(stream.close)
        return stream.result

    # -- stop signals ------------------------------------------------------------------

    def _watch_stops(self) -> None:
        """Long-poll job-stop and cancel the tasks of the jobs it names (a thread)."""
        link = ServerLink(self.config, timeout=self.wait + 30.0)
        path = f"/job-stop/{self.worker_id}?wait={int(self.wait * 1000)}"
        while True:
            try:
                status, body = link.request("GET", path)
            except (OSError, http.client.HTTPException):
                time.sleep(0.5)
                continue
            if status == 200:
                ids = json.loads(body).get("jobsToStop") or []
                try:
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(self._stop, ids)
                except RuntimeError:  # the loop has ended
                    return
            elif status != 204:
                time.sleep(0.5)

    def _stop(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            task = self.tasks.get(job_id)
            if task is not None:
                task.cancel()
