"""Counts of the client-facing requests an endpoint received, for tests and benchmarks.

Every request that reached the app is counted, whatever it was answered (4xx, 429,
5xx, injected fault or dropped connection).  Worker and admin routes are not counted.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

LOG_LIMIT = 200_000


class RequestStats:
    """A request log plus counters by operation and by job id."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self.total = 0
        self.lane = 0  # of them, answered by the fast lane (:mod:`.fast_lane`)
        self.by_op: Counter[str] = Counter()
        self.by_job: Counter[str] = Counter()
        self.by_op_job: Counter[tuple[str, str]] = Counter()
        if not hasattr(self, "active"):
            self.active: Counter[str] = Counter()  # live requests survive a reset

    def begin(self, method: str, op: str, job_id: str | None) -> dict[str, Any]:
        """Count a request as it arrives; the returned entry gets its status code later."""
        entry = {"t": time.time(), "method": method, "op": op, "job_id": job_id,
                 "status_code": None}
        self.log.append(entry)
        self.total += 1
        self.by_op[op] += 1
        if job_id is not None:
            self.by_job[job_id] += 1
            self.by_op_job[(op, job_id)] += 1
        self.active[op] += 1
        return entry

    def end(self, entry: dict[str, Any]) -> None:
        """The request has been answered (or dropped)."""
        self.active[entry["op"]] -= 1

    def in_flight(self, op: str | None = None) -> int:
        """Requests received and not answered yet (e.g. held long-polls)."""
        return self.active[op] if op is not None else sum(self.active.values())

    def attach_job(self, entry: dict[str, Any], job_id: str) -> None:
        """Name the job a request created (``/run``, ``/runsync``) once it exists."""
        if entry["job_id"] is None:
            entry["job_id"] = job_id
            self.by_job[job_id] += 1
            self.by_op_job[(entry["op"], job_id)] += 1

    def count(self, op: str | None = None, job_id: str | None = None) -> int:
        """Requests received, optionally only of one operation and/or about one job."""
        if op is None and job_id is None:
            return self.total
        if job_id is None:
            return self.by_op[op]
        if op is None:
            return self.by_job[job_id]
        return self.by_op_job[(op, job_id)]

    def snapshot(self) -> dict[str, Any]:
        return {"total": self.total, "fast_lane": self.lane, "by_op": dict(self.by_op),
                "by_job": dict(self.by_job)}
