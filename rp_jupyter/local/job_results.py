"""A job's result as runpod-python makes it (``rp_job.run_job`` / ``handle_job``): a
returned dict's ``error`` fails the job and its other keys become ``output``; a raised
exception becomes a JSON-encoded error; a generator's yields are streamed; after every
job the per-job state is reset."""

from __future__ import annotations

import json
import os
import socket
import sys
import traceback
from typing import Any

from rp_jupyter.env_names import POD_HOSTNAME_ENV

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def encode(value: Any) -> str:
    """JSON, as the worker posts it (NaN refused)."""
    return _ENCODER.encode(value)


def exception_error(err: BaseException, worker_id: str) -> str:
    """The JSON-encoded error string runpod-python sends for a raised exception."""
    return json.dumps({
        "error_type": str(type(err)),
        "error_message": str(err),
        "error_traceback": traceback.format_exc(),
        "hostname": os.environ.get(POD_HOSTNAME_ENV, socket.gethostname()),
        "worker_id": worker_id,
        "runpod_version": "local",
    })


def result_of_return(value: Any) -> dict[str, Any]:
    """Map a handler's return value to a job result, as runpod-python's ``run_job`` does."""
    result: dict[str, Any] = {}
    if isinstance(value, dict):
        value = dict(value)
        error = value.pop("error", None)
        refresh = value.pop("refresh_worker", None)
        result["output"] = value
        if error:
            result["error"] = error if isinstance(error, str) else encode(error)
        if refresh:
            result["stopPod"] = True
    else:
        result["output"] = value
    if result.get("output") == {}:
        result.pop("output")
    return result


def reset_between_jobs() -> None:
    """What runpod-python's job loop resets after every job (``rp_job.handle_job``): the
    ``rp_debugger`` checkpoints.  Handlers that time their steps with
    ``rp_debugger.FunctionTimer``/``LineTimer`` (faster-whisper) otherwise fail every job
    after the first with ``KeyError: Checkpoint name ... already exists``."""
    debugger = sys.modules.get("runpod.serverless.utils.rp_debugger")
    if debugger is not None:
        try:
            debugger.clear_debugger_output()
        except Exception:
            pass


def finish_result(result: dict[str, Any], refresh: bool) -> None:
    """Between a job's result and its report: reset per-job state, and with the worker
    config's ``refresh_worker`` ask for a fresh worker (``stopPod``), as runpod-python does."""
    reset_between_jobs()
    if refresh:
        result["stopPod"] = True


class StreamCollector:
    """A generator's yields, as runpod-python handles them: each is streamed; a yielded
    dict with ``error`` ends the job FAILED; with aggregation the output is every yield."""

    def __init__(self, sender: Any, aggregate: bool) -> None:
        """``sender`` has ``put(encoded_chunk)`` and ``close()`` (a ``ChunkSender``)."""
        self.sender = sender
        self.aggregate = aggregate
        self.result: dict[str, Any] = {"output": []}

    def take(self, item: Any) -> bool:
        """Handle one yield; ``False`` when the job must stop here."""
        if isinstance(item, dict) and item.get("error"):
            self.result = {"error": str(item["error"])}
            return False
        try:
            encoded = encode(item)
        except (TypeError, ValueError) as err:
            self.result = {"error": f"handler: chunk is not JSON serializable: {err}"}
            return False
        if self.aggregate:
            self.result["output"].append(item)
        self.sender.put(encoded)
        return True

    def fail(self, err: BaseException) -> None:
        """The generator raised (call inside the ``except`` block)."""
        self.result = {"error": f"handler: {err} \ntraceback: {traceback.format_exc()}"}

    def close(self) -> None:
        self.sender.close()
