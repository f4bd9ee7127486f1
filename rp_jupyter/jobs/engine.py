"""The engine: one private asyncio loop in a daemon thread, shared by every endpoint.

All network I/O runs here.  Sync callers block on a ``concurrent.futures.Future``; async
callers on any other loop await a wrapped one; nothing nests loops.  Started lazily on
first use, shut down at interpreter exit (journal flushed, connections closed).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import threading
import weakref
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from rp_jupyter.api._constants import API_KEY_ENV, RateLimit
from rp_jupyter.api.client import Connection
from rp_jupyter.api.redact import Secret
from rp_jupyter.api.retry import RetryPolicy
from rp_jupyter.jobs._constants import LEASE_RENEW_EVERY
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.jobs.key_scope import env_key_for

if TYPE_CHECKING:
    from rp_jupyter.jobs.runtime import EndpointRuntime

__all__ = ["Engine"]

log = logging.getLogger("rp_jupyter.jobs")
T = TypeVar("T")


class Engine:
    """The process-wide loop thread, its connections, runtimes and job registry.

    Example::

        engine = Engine.get()
        health = engine.call(runtime.client.health())
    """

    _instance: ClassVar[Engine | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, journal: JobJournal | None = None) -> None:
        self.journal = journal or JobJournal.open()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rp_jupyter-engine", daemon=True)
        self._thread.start()
        self._ready.wait()
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, Secret | None, RetryPolicy], Connection] = {}
        self._runtimes: dict[tuple[Any, ...], EndpointRuntime] = {}
        self.jobs: weakref.WeakValueDictionary[tuple[str, str, str], Any] = (
            weakref.WeakValueDictionary()
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.spawn_threadsafe(self._renew_leases())
        self.spawn_threadsafe(self._adopt_orphans())
        self.spawn_threadsafe(self._apply_journal_limits())

    @classmethod
    def get(cls) -> Engine:
        """The running engine, started on first use."""
        with cls._instance_lock:
            if cls._instance is None or cls._instance._closed:
                cls._instance = cls()
                atexit.register(cls._instance.shutdown)
            return cls._instance

    @classmethod
    def peek(cls) -> Engine | None:
        """The engine if it has started (and not shut down), without starting it."""
        engine = cls._instance
        return engine if engine is not None and not engine._closed else None

    # -- running things on the loop ------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    @property
    def on_engine_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the engine and block for its result (from any other thread)."""
        if self.on_engine_thread:
            coro.close()
            raise self.blocking_call_error()
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except KeyboardInterrupt:
            future.cancel()
            raise

    @staticmethod
    def blocking_call_error() -> RuntimeError:
        return RuntimeError("a blocking rp_jupyter call was made on the engine thread "
                            "(from a job subscriber?); use the async API there")

    async def acall(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the engine from any event loop (or the engine's own)."""
        if self.on_engine_thread:
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a background task on the engine (engine thread only); kept until done."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def spawn_threadsafe(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.loop.call_soon_threadsafe(self.spawn, coro)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("rp_jupyter background task failed", exc_info=task.exception())

    # -- connections and endpoint runtimes -----------------------------------------------

    def _connection_locked(
        self, base_url: str, api_key: Secret | None, retry: RetryPolicy
    ) -> Connection:
        key = (base_url, api_key, retry)
        conn = self._connections.get(key)
        if conn is None:
            conn = self._connections[key] = Connection(base_url, api_key, retry=retry)
        return conn

    def runtime(
        self,
        base_url: str,
        endpoint_id: str,
        api_key: Secret | None,
        *,
        rate_limits: dict[str, RateLimit] | None = None,
        retry: RetryPolicy | None = None,
    ) -> EndpointRuntime:
        """The :class:`EndpointRuntime` for one endpoint, key and settings (created once)."""
        from rp_jupyter.jobs.runtime import EndpointRuntime

        retry = retry or RetryPolicy()
        limits = frozenset(rate_limits.items()) if rate_limits else None
        key = (base_url, endpoint_id, api_key, limits, retry)
        with self._lock:
            runtime = self._runtimes.get(key)
            if runtime is None:
                conn = self._connection_locked(base_url, api_key, retry)
                client = conn.endpoint(endpoint_id, rate_limits)
                runtime = self._runtimes[key] = EndpointRuntime(self, client, rate_limits)
            return runtime

    # -- background chores ----------------------------------------------------------------

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_EVERY)
            await asyncio.wrap_future(self.journal.renew_leases())

    async def _apply_journal_limits(self) -> None:
        """Prune the journal to the configured size and age limits, off the loop."""
        removed = await self.loop.run_in_executor(None, self.journal.prune_to_configured_limits)
        if removed:
            log.info("pruned %d old job(s) from the journal", removed)

    async def _adopt_orphans(self) -> None:
        """Follow, to the end, unfinished jobs left by processes that have stopped."""
        env_key = os.environ.get(API_KEY_ENV)
        # without a key the hosted API cannot be followed; an Endpoint with one adopts those
        base_url = None if env_key else "http://%"
        keys = await asyncio.wrap_future(self.journal.claim_orphans(base_url_like=base_url))
        for key in keys:
            record = self.journal.get(key)
            if record is None or record.job_id is None:
                continue
            # the key only where it belongs: never to a loopback port another process holds
            runtime = self.runtime(record.base_url, record.endpoint_id,
                                   env_key_for(record.base_url))
            runtime.adopt(record)

    def shutdown(self) -> None:
        """Stop following (the journal keeps every unfinished job for the next process)."""
        if self._closed:
            return
        self._closed = True

        async def stop() -> None:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for conn in list(self._connections.values()):
                await conn.aclose()

        try:
            self.submit(stop()).result(timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        try:
            self.journal.flush(timeout=5)
        except Exception:
            pass
