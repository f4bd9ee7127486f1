"""``chaos``: a handler that misbehaves on request, for demos of timeouts, failures,
cancel and retry.  Input keys, all optional, applied in this order:

- ``fail_first: true``: fail the first attempt of a job, succeed when it is retried
  (a marker file keyed by the job id remembers the first attempt).
- ``crash: true``: the worker process dies (``os._exit``; ``exit_code``, default 13).
- ``hang: true``: a busy loop that never yields (only cancel or a timeout stop it).
- ``sleep``: seconds to sleep first.
- ``chunks`` / ``interval``: stream this many chunks ``{"chunk": i}``, ``interval`` s apart.
- ``fail``: raise ``RuntimeError(fail)``.
- ``error``: fail softly with this message (``{"error": ...}``).

Otherwise the last chunk is ``{"done": true, "slept": s, "chunks": n, "attempt": a}``.
``handler`` is a generator, so its chunks stream; with ``return_aggregate_stream`` its
output is the list of chunks.  ``plain`` does the same as a plain function (no chunks)
returning the summary: use ``rp_jupyter.local.examples.chaos:plain``.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

MARKER_DIR = os.path.join(tempfile.gettempdir(), "rp_jupyter_chaos")


def _attempt(job_id: str) -> int:
    """1 on a job's first attempt, 2 afterwards (it left a marker file)."""
    os.makedirs(MARKER_DIR, exist_ok=True)
    marker = os.path.join(MARKER_DIR, "".join(c for c in job_id if c.isalnum() or c in "-_"))
    if os.path.exists(marker):
        return 2
    with open(marker, "w"):
        pass
    return 1


def _misbehave(job: dict[str, Any]) -> tuple[dict[str, Any], int]:
    data = job.get("input") or {}
    attempt = _attempt(job["id"]) if data.get("fail_first") else 1
    if data.get("fail_first") and attempt == 1:
        raise RuntimeError("failing the first attempt on purpose (fail_first)")
    if data.get("crash"):
        os._exit(int(data.get("exit_code", 13)))
    if data.get("hang"):
        while True:  # never yields, never sleeps
            pass
    if data.get("sleep"):
        time.sleep(float(data["sleep"]))
    return data, attempt


def handler(job: dict[str, Any]) -> Iterator[Any]:
    data, attempt = _misbehave(job)
    count = int(data.get("chunks", 0))
    interval = float(data.get("interval", 0.0))
    for index in range(count):
        if index and interval:
            time.sleep(interval)
        yield {"chunk": index}
    if data.get("fail"):
        raise RuntimeError(str(data["fail"]))
    if data.get("error"):
        yield {"error": str(data["error"])}
        return
    yield {"done": True, "slept": float(data.get("sleep", 0)), "chunks": count,
           "attempt": attempt}


def plain(job: dict[str, Any]) -> dict[str, Any]:
    data, attempt = _misbehave(job)
    if data.get("fail"):
        raise RuntimeError(str(data["fail"]))
    if data.get("error"):
        return {"error": str(data["error"])}
    return {"done": True, "slept": float(data.get("sleep", 0)), "attempt": attempt}
