"""Supervision of an endpoint's worker processes: spawn, count, kill, replace.

Runs on the server's event loop.  Each worker is a separate process; one started here
takes its jobs through a socket pair (:mod:`.worker_channel`), any other pulls them over
HTTP (:mod:`.protocol`).  A watcher thread reports a worker's exit back to the loop.  A
worker that dies holding a job fails that job and is replaced; one that cannot load its
handler is marked unhealthy and retried with backoff.  Workers that were not started here
(a real runpod-python worker pointed at the endpoint) are tracked from their requests.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import string
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from rp_jupyter.local.endpoint_settings import EndpointSettings
from rp_jupyter.local.flags import Flag
from rp_jupyter.local.handler_spec import HandlerSpec
from rp_jupyter.local.processes import (
    describe_exit,
    kill_process,
    start_runpod_worker,
    start_worker_process,
    wait_process,
)
from rp_jupyter.local.simulation import real_workers, simulated_counts
from rp_jupyter.local.worker_main import EXIT_LOAD_FAILED

INITIALIZING, IDLE, RUNNING, UNHEALTHY, STOPPING = (
    "initializing", "idle", "running", "unhealthy", "stopping")
EXTERNAL_FORGET_AFTER = 60.0
RECONCILE_EVERY = 0.25
#: a worker told to stop a job by signal is ended if it still holds the job after this
STOP_GRACE = 5.0
_ALPHABET = string.ascii_lowercase + string.digits


def new_worker_id() -> str:
    """A worker id shaped like the hosted ones (14 lowercase letters and digits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(14))


class StopSignals:
    """Jobs an external worker must stop, re-sent every second until the worker shows it
    no longer runs them (posts their result, or asks for work with nothing in progress):
    a signal can arrive before the worker has started the job."""

    RESEND_AFTER = 1.0
    MAX_SENDS = 30

    def __init__(self) -> None:
        self.pending: dict[str, list[float]] = {}  # job id -> [last sent (monotonic), sends]
        self.event = Flag()

    def add(self, job_id: str) -> None:
        self.pending[job_id] = [0.0, 0]
        self.event.set()

    def forget(self, job_ids: set[str] | None = None) -> None:
        """Drop the given ids (all when ``None``): the worker is not running them."""
        for job_id in list(self.pending):
            if job_ids is None or job_id in job_ids:
                del self.pending[job_id]

    def due(self) -> tuple[list[str], float | None]:
        """Ids to send now (marked sent), and seconds until the next one is due."""
        now = time.monotonic()
        ready, soonest = [], None
        for job_id, entry in list(self.pending.items()):
            if entry[1] >= self.MAX_SENDS:
                del self.pending[job_id]
                continue
            wait = entry[0] + self.RESEND_AFTER - now if entry[1] else 0.0
            if wait <= 0:
                entry[0], entry[1] = now, entry[1] + 1
                ready.append(job_id)
            elif soonest is None or wait < soonest:
                soonest = wait
        self.event.clear()
        return ready, soonest


class WorkerProcess:
    """One worker as the supervisor sees it.

    ``jobs`` are the jobs it runs (several for a worker with ``concurrency_modifier``);
    ``stops_by_signal`` says its jobs are stopped through the job-stop channel rather
    than by ending its process (external workers, concurrent ones, runpod-python ones).
    """

    def __init__(self, worker_id: str, *, external: bool = False) -> None:
        self.id = worker_id
        self.external = external
        self.state = IDLE if external else INITIALIZING
        self.jobs: set[str] = set()
        self.stopping: set[str] = set()
        self.stops_by_signal = external
        self.process: Any = None
        self.spawned_at = time.monotonic()
        self.last_seen = self.spawned_at
        self.retire = False
        self.respawn_at: float | None = None
        self.stops = StopSignals()
        self.channel: Any = None

    @property
    def job_id(self) -> str | None:
        """One job this worker runs (the oldest), or ``None``."""
        return min(self.jobs) if self.jobs else None


class WorkerPool:
    """The worker processes of one endpoint, kept at ``settings.workers``."""

    def __init__(self, endpoint_id: str, spec: HandlerSpec, settings: EndpointSettings,
                 on_worker_lost: Callable[[str, str, str], None],
                 open_channel: Callable[[str, socket.socket], Any]) -> None:
        """``open_channel(worker_id, sock)`` gives the server's end of the socket pair to a
        worker it starts (a :class:`~rp_jupyter.local.worker_channel.WorkerChannel`)."""
        self.endpoint_id = endpoint_id
        self.spec = spec
        self.settings = settings
        self.slots: dict[str, WorkerProcess] = {}
        self.last_error: str | None = None
        self.last_traceback: str | None = None
        self.ready_once = False
        self.departed: set[str] = set()
        self._on_worker_lost = on_worker_lost
        self._open_channel = open_channel
        self._address: tuple[str, int] | None = None
        self._closing = False
        self._failures = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self, address: tuple[str, int]) -> None:
        """Start keeping ``settings.workers`` workers, pointed at the server's ``address``."""
        self._address = address
        self._loop = asyncio.get_running_loop()
        self.reconcile()
        self._ticker = self._loop.create_task(self._tick())

    async def close(self) -> None:
        """Kill every worker process and wait until they are gone."""
        self._closing = True
        if self._ticker is not None:
            self._ticker.cancel()
        procs = [s.process for s in self.slots.values() if s.process is not None]
        for slot in self.slots.values():
            if slot.channel is not None:
                slot.channel.close()
        for proc in procs:
            kill_process(proc)
        loop = asyncio.get_running_loop()
        for proc in procs:
            try:
                await loop.run_in_executor(None, wait_process, proc)
            except RuntimeError:  # the interpreter is exiting: no new threads, wait here
                wait_process(proc)

    async def _tick(self) -> None:
        while not self._closing:
            await asyncio.sleep(RECONCILE_EVERY)
            self.reconcile()

    def reconcile(self) -> None:
        """Spawn or retire workers to match ``settings.workers``; forget silent externals."""
        now = time.monotonic()
        for slot in list(self.slots.values()):
            silent = slot.external and now - slot.last_seen > EXTERNAL_FORGET_AFTER
            backed_off = slot.state == UNHEALTHY and slot.respawn_at and now >= slot.respawn_at
            if silent or backed_off:
                self.slots.pop(slot.id, None)
        own = [s for s in self.slots.values() if not s.external and not s.retire]
        missing = real_workers(self.settings) - len(own)
        for _ in range(max(0, missing)):
            self.spawn()
        if missing < 0:
            order = {UNHEALTHY: 0, INITIALIZING: 1, IDLE: 2, RUNNING: 3}
            for slot in sorted(own, key=lambda s: order.get(s.state, 4))[: -missing]:
                self.retire(slot)

    def retire(self, slot: WorkerProcess) -> None:
        slot.retire = True
        if slot.state == UNHEALTHY:
            self.slots.pop(slot.id, None)
        elif slot.state != RUNNING:
            self.kill(slot.id)

    # -- processes -------------------------------------------------------------------

    def _config(self, worker_id: str) -> dict[str, Any]:
        assert self._address is not None
        return {
            "host": self._address[0],
            "port": self._address[1],
            "base_path": f"/v2/{self.endpoint_id}",
            "worker_id": worker_id,
            "target": self.spec.target,
            "aggregate": bool(self.settings.return_aggregate_stream),
            "cold_start": float(self.settings.cold_start or 0.0),
            "poll_wait": float(self.settings.worker_poll_wait),
            "parent_pid": os.getpid(),
        }

    def spawn(self) -> WorkerProcess:
        """Start one worker process (in a thread, so the loop never waits on fork/exec).

        A worker of our own gets one end of a socket pair to take its jobs through."""
        slot = WorkerProcess(new_worker_id())
        self.slots[slot.id] = slot
        config = self._config(slot.id)
        worker_end = None
        if not self.settings.runpod_worker:
            server_end, worker_end = socket.socketpair()
            config["channel_fd"] = worker_end.fileno()
            slot.channel = self._open_channel(slot.id, server_end)
            slot.channel.start()
        assert self._loop is not None
        self._loop.run_in_executor(None, self._start_process, slot, config, worker_end)
        return slot

    def _start_process(self, slot: WorkerProcess, config: dict[str, Any],
                       worker_end: socket.socket | None) -> None:
        try:
            if self.settings.runpod_worker:
                proc = self._start_runpod_worker(slot)
            else:
                proc = start_worker_process(config, self.settings.api_key, self.spec.func)
        except Exception as err:
            self._call(self._on_exit, slot.id, None, f"could not start worker: {err!r}")
            return
        finally:
            if worker_end is not None:  # the worker holds it now
                worker_end.close()
        slot.process = proc
        if self._closing or slot.state == STOPPING:
            kill_process(proc)
        threading.Thread(target=self._watch, args=(slot.id, proc), daemon=True,
                         name=f"rp-local-watch-{slot.id}").start()

    def _start_runpod_worker(self, slot: WorkerProcess) -> Any:
        """``python worker.py`` as a runpod-python worker: it stops jobs by signal."""
        from rp_jupyter.local.protocol import runpod_worker_env

        assert self._address is not None and self.spec.target is not None
        base_url = f"http://{self._address[0]}:{self._address[1]}/v2"
        slot.stops_by_signal = True
        return start_runpod_worker(self.spec.target, runpod_worker_env(
            base_url, self.endpoint_id, slot.id, self.settings.api_key))

    def _watch(self, worker_id: str, proc: Any) -> None:
        code = wait_process(proc)
        self._call(self._on_exit, worker_id, code, None)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed: the server is gone
            pass

    def kill(self, worker_id: str) -> None:
        """Kill a worker process (its exit is then handled like any other)."""
        slot = self.slots.get(worker_id)
        if slot is None or slot.external:
            return
        slot.state = STOPPING
        if slot.process is not None:
            kill_process(slot.process)

    def _on_exit(self, worker_id: str, code: int | None, error: str | None) -> None:
        self.departed.add(worker_id)
        slot = self.slots.pop(worker_id, None)
        if slot is not None and slot.channel is not None:
            slot.channel.close()
        if slot is None or self._closing:
            return
        for job_id in sorted(slot.jobs):
            self._on_worker_lost(job_id, worker_id, describe_exit(code))
        failed_to_start = slot.state == INITIALIZING and not slot.retire
        if error is not None or (failed_to_start and code == EXIT_LOAD_FAILED
                                 and not self.settings.runpod_worker):
            self._mark_unhealthy(slot, error or self.last_error)
        elif failed_to_start:
            self._mark_unhealthy(slot, self._start_failure(slot, code))
        self.reconcile()

    def _start_failure(self, slot: WorkerProcess, code: int | None) -> str:
        tail = slot.process.tail() if hasattr(slot.process, "tail") else ""
        if not self.settings.runpod_worker:
            return f"worker exited while starting ({describe_exit(code)})"
        said = f"; it last wrote: {tail}" if tail else ""
        return (f"{' '.join(slot.process.command[1:])} exited before it asked for a job "
                f"({describe_exit(code)}){said}")

    def _mark_unhealthy(self, slot: WorkerProcess, error: str | None) -> None:
        self._failures += 1
        if error:
            self.last_error = error
        slot.state = UNHEALTHY
        slot.process = None
        slot.respawn_at = time.monotonic() + min(30.0, 0.5 * 2 ** (self._failures - 1))
        self.slots[slot.id] = slot

    # -- events from the worker protocol ---------------------------------------------

    def may_take(self, worker_id: str) -> bool:
        """Whether this worker may take a job: not one of ours being stopped or retired."""
        slot = self.slots.get(worker_id)
        if slot is None:
            return worker_id not in self.departed and not self._closing
        if slot.external:
            return True
        return slot.state not in (STOPPING, UNHEALTHY) and not slot.retire

    def seen(self, worker_id: str) -> WorkerProcess:
        """The slot of a worker that just made a request (registering external ones)."""
        slot = self.slots.get(worker_id)
        if slot is None:
            slot = WorkerProcess(worker_id, external=True)
            self.slots[worker_id] = slot
        slot.last_seen = time.monotonic()
        return slot

    def waiting(self, worker_id: str, busy: bool = False) -> WorkerProcess:
        """The worker asks for a job: it is ready (and idle unless it still runs one)."""
        slot = self.seen(worker_id)
        if not busy:
            slot.stops.forget()
        if slot.state in (INITIALIZING, IDLE):
            if slot.state == INITIALIZING:
                self._failures = 0
                self.ready_once = True
            slot.state = IDLE
        return slot

    def load_failed(self, worker_id: str, error: str, details: str | None = None) -> None:
        """A worker reported that it cannot load the handler (``error`` says why)."""
        self.last_error = error
        self.last_traceback = details
        if self.ready_once:  # a first failure is reported by wait_ready to whoever waits
            print(f"rp-jupyter local endpoint {self.endpoint_id!r}: a new worker could not "
                  f"load {self.spec.label}: {error}", file=sys.stderr)

    def took(self, worker_id: str, job_id: str) -> None:
        slot = self.seen(worker_id)
        slot.state = RUNNING
        slot.jobs.add(job_id)

    def released(self, worker_id: str, job_id: str, refresh: bool = False) -> None:
        """The worker is done with ``job_id`` (result posted, or the hand-off failed);
        ``refresh`` (the result's ``stopPod``) replaces the worker once it is idle."""
        slot = self.slots.get(worker_id)
        if slot is None or (job_id not in slot.jobs and job_id not in slot.stopping):
            return
        slot.jobs.discard(job_id)
        slot.stopping.discard(job_id)
        if refresh and not slot.external:
            slot.retire = True
        if slot.jobs:
            return
        if slot.state == RUNNING:
            slot.state = IDLE
        if slot.retire and not slot.external:
            self.kill(worker_id)

    def stop_job(self, worker_id: str, job_id: str) -> None:
        """Stop a running job: signal the worker when it stops jobs by signal, else end its
        process.  Our own concurrent worker that still holds the job after
        :data:`STOP_GRACE` (a handler that never yields to the loop) is ended; runpod-python
        workers report nothing for a stopped job, so they are trusted to stop it."""
        slot = self.slots.get(worker_id)
        if slot is None or job_id not in slot.jobs:
            return
        slot.jobs.discard(job_id)  # the job is final already; an exit must not fail it again
        if not slot.stops_by_signal:
            self.kill(worker_id)
            return
        slot.stops.add(job_id)
        if not slot.jobs and slot.state == RUNNING:
            slot.state = IDLE
        if not slot.external and not self.settings.runpod_worker:
            # our concurrent worker reports a stopped job; one that does not is stuck
            slot.stopping.add(job_id)
            assert self._loop is not None
            self._loop.call_later(STOP_GRACE, self._end_if_still_running, worker_id, job_id)

    def _end_if_still_running(self, worker_id: str, job_id: str) -> None:
        slot = self.slots.get(worker_id)
        if slot is not None and job_id in slot.stopping:
            self.kill(worker_id)

    # -- views -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Worker counters in the hosted ``/health`` shape (``ready`` equals ``idle``)."""
        states = [s.state for s in self.slots.values()]
        idle = states.count(IDLE)
        simulated = simulated_counts(self.settings)
        return {
            "idle": idle,
            "initializing": states.count(INITIALIZING),
            "ready": idle,
            "running": states.count(RUNNING),
            "throttled": simulated["throttled"],
            "unhealthy": states.count(UNHEALTHY) + simulated["unhealthy"],
        }
