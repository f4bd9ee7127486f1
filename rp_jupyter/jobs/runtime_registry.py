"""``RuntimeRegistry``: this process's endpoint runtimes and live jobs, and the chores that
keep the journal honest (lease renewal, adopting orphans, pruning to the limits).

One per engine: made on first use of an endpoint, replaced when the engine is.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from rp_jupyter.api.retry import RetryPolicy
from rp_jupyter.jobs import adoption
from rp_jupyter.jobs.engine import Engine
from rp_jupyter.jobs.job_sink import JobSink
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.jobs.leases import LeaseKeeper
from rp_jupyter.jobs.runtime import EndpointRuntime
from rp_jupyter.jobs.session import session_of

if TYPE_CHECKING:
    from rp_jupyter.api.redact import Secret
    from rp_jupyter.jobs.job import Job
    from rp_jupyter.wire_rules import RateLimit

__all__ = ["RuntimeRegistry"]

log = logging.getLogger("rp_jupyter.jobs")


class RuntimeRegistry:
    """See the module docstring.

    Example::

        runtime = RuntimeRegistry.get().runtime(base_url, "my-endpoint", key)
    """

    _current: ClassVar[RuntimeRegistry | None] = None
    _current_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, engine: Engine, journal: JobJournal) -> None:
        self.engine = engine
        self.journal = journal
        session = session_of(engine)  # this process's ledger: it counts each job that ends
        self.sink = JobSink(journal, engine.spawn, on_final=session.ended)
        self.jobs: weakref.WeakValueDictionary[tuple[str, str, str], Job] = (
            weakref.WeakValueDictionary()
        )
        self._runtimes: dict[tuple[Any, ...], EndpointRuntime] = {}
        self._lock = threading.Lock()
        self.leases = LeaseKeeper(journal, followed=self._followed, lost=self._lease_lost)
        engine.at_shutdown(self._flush)
        engine.spawn_threadsafe(self.leases.run())
        engine.spawn_threadsafe(self._adopt_orphans())
        engine.spawn_threadsafe(self._apply_journal_limits())

    @classmethod
    def get(cls) -> RuntimeRegistry:
        """The registry of the running engine (both started on first use)."""
        engine = Engine.get()
        with cls._current_lock:
            current = cls._current
            if current is None or current.engine is not engine:
                current = cls._current = cls(engine, JobJournal.open())
            return current

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
        retry = retry or RetryPolicy()
        limits = frozenset(rate_limits.items()) if rate_limits else None
        key = (base_url, endpoint_id, api_key, limits, retry)
        with self._lock:
            runtime = self._runtimes.get(key)
            if runtime is None:
                client = self.engine.connection(base_url, api_key, retry).endpoint(
                    endpoint_id, rate_limits)
                runtime = self._runtimes[key] = EndpointRuntime(
                    self.engine, client, rate_limits, journal=self.journal, sink=self.sink,
                    jobs=self.jobs)
            return runtime

    # -- chores ----------------------------------------------------------------------------

    def _runtimes_now(self) -> list[EndpointRuntime]:
        with self._lock:
            return list(self._runtimes.values())

    def _followed(self) -> dict[int, Job]:
        followed: dict[int, Job] = {}
        for runtime in self._runtimes_now():
            followed.update(runtime.followed())
        return followed

    def _lease_lost(self, job: Job) -> None:
        for runtime in self._runtimes_now():
            runtime.lease_lost(job)

    async def _adopt_orphans(self) -> None:
        """Follow, to the end, unfinished jobs left by processes that have stopped."""
        for record in await adoption.claim_orphans(self.journal):
            runtime = self.runtime(record.base_url, record.endpoint_id, adoption.key_for(record))
            runtime.adopt(record)

    async def _apply_journal_limits(self) -> None:
        """Prune the journal to the configured size and age limits, off the loop."""
        removed = await self.engine.loop.run_in_executor(
            None, self.journal.prune_to_configured_limits)
        if removed:
            log.info("pruned %d old job(s) from the journal", removed)

    def _flush(self) -> None:
        try:
            self.journal.flush(timeout=5)
        except Exception:
            pass
