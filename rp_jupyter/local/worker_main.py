"""The worker process: load a handler, pull jobs from the local server, report back.

It takes each job from the socket pair its server gave it and reports the result there
(:mod:`.channel_frames`); chunks go to the HTTP ``job-stream`` route of Runpod's worker
protocol, as a handler's progress updates go to ``job-done`` (stdlib only, so it starts
fast).  Results follow runpod-python's rules (``run_job`` / ``handle_job``):
``{"error": ...}`` fails a job and its other keys become ``output``; a raised exception
becomes a JSON-encoded error; a generator's yields are streamed as ``{"output": x}``.

Started as ``python -m rp_jupyter.local.worker_main`` with its settings in the environment
variable ``RP_JUPYTER_LOCAL_WORKER`` (JSON), or forked with the handler in memory.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from rp_jupyter.env_names import (
    DEBUG_LEVEL_ENV,
    LOCAL_WORKER_ENV,
    LOG_LEVEL_ENV,
    POD_ID_ENV,
    WEBHOOK_POST_OUTPUT_ENV,
    WEBHOOK_POST_STREAM_ENV,
    WORKER_API_KEY_ENV,
)
from rp_jupyter.local.channel_frames import (
    OVER_HTTP,
    READY,
    FrameReader,
    frame,
    result_frame,
)
from rp_jupyter.local.handler_spec import handler_kind
from rp_jupyter.local.job_results import (
    StreamCollector,
    encode,
    exception_error,
    finish_result,
    result_of_return,
)
from rp_jupyter.local.scripts import LoadFailure, serve_target
from rp_jupyter.local.worker_link import ChunkSender, ServerLink, stream_path

EXIT_LOAD_FAILED = 3
PARENT_CHECK_EVERY = 0.5


class JobRunner:
    """Runs one job at a time with the handler, in this process's main thread."""

    def __init__(self, handler: Callable[..., Any], config: dict[str, Any],
                 options: dict[str, Any] | None = None) -> None:
        self.handler = handler
        self.kind = handler_kind(handler)
        self.config = config
        self.worker_id: str = config["worker_id"]
        options = options or {}
        self.aggregate = bool(config.get("aggregate") or options.get("return_aggregate_stream"))
        self.refresh = bool(options.get("refresh_worker"))
        self._loop: Any = None

    def _run_async(self, coro: Any) -> Any:
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coro)

    def run(self, job: dict[str, Any]) -> bytes:
        """Run one job; its result, encoded as JSON."""
        if self.kind in ("generator", "async_generator"):
            result = self._run_generator(job)
        else:
            result = self._run_plain(job)
        finish_result(result, self.refresh)
        try:
            return encode(result).encode()
        except (TypeError, ValueError) as err:
            return encode({"error": f"handler output is not JSON serializable: {err}"}).encode()

    def _run_plain(self, job: dict[str, Any]) -> dict[str, Any]:
        try:
            value = self.handler(job)
            if self.kind == "coroutine" or hasattr(value, "__await__"):
                value = self._run_async(value)
            return result_of_return(value)
        except Exception as err:
            return {"error": exception_error(err, self.worker_id)}

    def _run_generator(self, job: dict[str, Any]) -> dict[str, Any]:
        stream = StreamCollector(ChunkSender(self.config, stream_path(self.worker_id, job)),
                                 self.aggregate)
        try:
            if self.kind == "async_generator":
                self._run_async(_drain_async(self.handler(job), stream.take))
            else:
                _drain(self.handler(job), stream.take)
        except Exception as err:
            stream.fail(err)
        finally:
            stream.close()
        return stream.result


def _drain(items: Iterable[Any], consume: Callable[[Any], bool]) -> None:
    for item in items:
        if not consume(item):
            break


async def _drain_async(items: Any, consume: Callable[[Any], bool]) -> None:
    try:
        async for item in items:
            if not consume(item):
                break
    finally:
        await items.aclose()


def _report_load_failure(link: ServerLink, worker_id: str, failure: LoadFailure) -> None:
    body = encode({"error": str(failure), "traceback": failure.details}).encode()
    try:
        link.request("POST", f"/worker-failed/{worker_id}", body)
    except (OSError, http.client.HTTPException):
        pass


def _exit_with_parent(parent_pid: int) -> None:
    """End this process when the server's process is gone, even mid-job (a handler stuck
    in a loop never reaches the point where the lost server would be noticed)."""
    while True:
        if os.getppid() != parent_pid:
            if os.getpgrp() == os.getpid():  # what the handler started ends too
                os.killpg(os.getpid(), signal.SIGKILL)
            os._exit(0)
        time.sleep(PARENT_CHECK_EVERY)


def _point_runpod_helpers_here(config: dict[str, Any]) -> None:
    """Let a handler's ``runpod.serverless.progress_update`` reach this server: set the
    variables runpod-python reads (and patch them in if it is already imported)."""
    root = f"http://{config['host']}:{config['port']}{config['base_path']}"
    done = f"{root}/job-done/${POD_ID_ENV}/$ID?gpu=local"
    stream = f"{root}/job-stream/${POD_ID_ENV}/$ID?gpu=local"
    os.environ[POD_ID_ENV] = config["worker_id"]
    # runpod-python logs every progress update at DEBUG by default; keep its warnings only
    if LOG_LEVEL_ENV not in os.environ and DEBUG_LEVEL_ENV not in os.environ:
        os.environ[LOG_LEVEL_ENV] = "WARN"
    os.environ[WEBHOOK_POST_OUTPUT_ENV] = done
    os.environ[WEBHOOK_POST_STREAM_ENV] = stream
    if config.get("api_key"):
        os.environ[WORKER_API_KEY_ENV] = config["api_key"]
    http_module = sys.modules.get("runpod.serverless.modules.rp_http")
    if http_module is not None:
        worker_id = config["worker_id"]
        http_module.JOB_DONE_URL = done.replace(f"${POD_ID_ENV}", worker_id)
        http_module.JOB_STREAM_URL = stream.replace(f"${POD_ID_ENV}", worker_id)


def run_worker(config: dict[str, Any], func: Callable[..., Any] | None = None) -> int:
    """Load the handler, then take and run jobs until the server goes away."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        pass
    if hasattr(os, "SCHED_BATCH"):
        # the same share of the CPU, but a job handed over does not preempt the process
        # that handed it (the server, or the kernel and its widgets), which then finishes
        # what it was doing first: with 2 CPUs, 10-20 % more jobs per second from 8
        # clients (bench/local_throughput.py)
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    if config.get("parent_pid"):
        threading.Thread(target=_exit_with_parent, args=(int(config["parent_pid"]),),
                         name="rp-local-parent-watch", daemon=True).start()
    channel = socket.socket(fileno=config["channel_fd"])
    _point_runpod_helpers_here(config)

    def serve(handler: Callable[..., Any], options: dict[str, Any]) -> int:
        if config.get("cold_start"):
            time.sleep(float(config["cold_start"]))
        if options.get("concurrency_modifier"):
            from rp_jupyter.local.worker_async import ConcurrentWorker

            channel.sendall(frame(OVER_HTTP))
            return ConcurrentWorker(handler, config, options).run()
        return _serve_one_at_a_time(JobRunner(handler, config, options), channel)

    if func is not None:
        return serve(func, {})
    try:
        return serve_target(config["target"], serve)
    except LoadFailure as failure:
        _report_load_failure(ServerLink(config, timeout=30.0), config["worker_id"], failure)
        return EXIT_LOAD_FAILED


def _serve_one_at_a_time(runner: JobRunner, channel: socket.socket) -> int:
    """Take jobs from the server's end of the channel and report each result there, until
    the server closes it (it retired this worker, or it stops)."""
    try:
        channel.sendall(frame(READY))
        frames = FrameReader(channel)
        while (raw := frames.next()) is not None:
            job = json.loads(raw)
            channel.sendall(result_frame(job["id"], runner.run(job)))
    except OSError:
        pass
    return 0


def main() -> None:
    """Entry point of a spawned worker process."""
    config = json.loads(os.environ[LOCAL_WORKER_ENV])
    config["api_key"] = os.environ.get(WORKER_API_KEY_ENV) or None
    sys.exit(run_worker(config))


if __name__ == "__main__":
    main()
