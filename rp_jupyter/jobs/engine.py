"""The engine: one private asyncio loop in a daemon thread, shared by every endpoint.

All network I/O runs here.  Sync callers block on a ``concurrent.futures.Future``; async
callers on any other loop await a wrapped one; nothing nests loops.  Started lazily on
first use, shut down at interpreter exit (tasks stopped, connections closed, then the
shutdown callbacks, e.g. the journal's flush).  The engine knows its loop, its connections
and its tasks; which endpoints and jobs exist is :mod:`rp_jupyter.jobs.runtime_registry`'s.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from rp_jupyter.api.client import Connection
from rp_jupyter.api.redact import Secret
from rp_jupyter.api.retry import RetryPolicy

__all__ = ["Engine"]

log = logging.getLogger("rp_jupyter.jobs")
T = TypeVar("T")


class Engine:
    """The process-wide loop thread, its connections and its background tasks.

    Example::

        engine = Engine.get()
        health = engine.call(runtime.client.health())
    """

    _instance: ClassVar[Engine | None] = None
    _instance_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rp_jupyter-engine", daemon=True)
        self._thread.start()
        self._ready.wait()
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, Secret | None, RetryPolicy], Connection] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._at_shutdown: list[Callable[[], None]] = []
        self._closed = False

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

    @property
    def closed(self) -> bool:
        return self._closed

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

    # -- connections ---------------------------------------------------------------------

    def connection(self, base_url: str, api_key: Secret | None, retry: RetryPolicy) -> Connection:
        """The connection pools for one base URL, key and retry policy (made once)."""
        key = (base_url, api_key, retry)
        with self._lock:
            conn = self._connections.get(key)
            if conn is None:
                conn = self._connections[key] = Connection(base_url, api_key, retry=retry)
            return conn

    # -- stopping --------------------------------------------------------------------------

    def at_shutdown(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the loop has stopped at :meth:`shutdown`."""
        self._at_shutdown.append(callback)

    def shutdown(self) -> None:
        """Stop every task and close every connection; then run the shutdown callbacks."""
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
        for callback in self._at_shutdown:
            try:
                callback()
            except Exception:
                log.debug("an engine shutdown callback failed", exc_info=True)
