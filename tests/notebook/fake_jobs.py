"""A job driven by the test instead of a server: chunks pushed at a chosen rate through the
same engine-side methods a follower uses.  For message-rate tests and the UI benchmark,
where the chunk rate must be exact; everything else runs against the local endpoint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from rp_jupyter.api.models import JobStatus, StatusDocument
from rp_jupyter.jobs.job import Job


def driven_job(job_id: str = "driven-0001-aaaa-bbbb", endpoint_id: str = "driven") -> Job:
    return Job(
        None,
        job_id=job_id,
        endpoint_id=endpoint_id,
        base_url="http://127.0.0.1:9/v2",
        mode="run",
        input={"prompt": "driven"},
        status=JobStatus.IN_QUEUE,
    )


class ChunkFeeder(threading.Thread):
    """Pushes ``count`` chunks into ``job`` at ``rate`` per second in batches of ``batch``
    (as a follower would after one ``/stream`` poll), then completes the job.  Records
    when each chunk reached the job."""

    def __init__(
        self,
        job: Job,
        count: int,
        rate: float,
        *,
        batch: int = 10,
        make: Callable[[int], Any] = lambda i: f"w{i} ",
        finish: bool = True,
    ) -> None:
        super().__init__(name="chunk-feeder", daemon=True)
        self.job, self.count, self.rate, self.batch = job, count, rate, batch
        self.make, self.finish = make, finish
        self.added_at: list[float] = []

    def run(self) -> None:
        self.job._apply_status(JobStatus.IN_PROGRESS)
        start = time.monotonic()
        sent = 0
        while sent < self.count:
            due = start + sent / self.rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the producer, not synchronising with it
            size = min(self.batch, self.count - sent)
            self.job._add_chunks([self.make(sent + i) for i in range(size)])
            now = time.monotonic()
            self.added_at.extend([now] * size)
            sent += size
        if self.finish:
            self.job._finish(
                JobStatus.COMPLETED,
                StatusDocument(
                    id=self.job.id,
                    status=JobStatus.COMPLETED,
                    delay_ms=5,
                    execution_ms=int((time.monotonic() - start) * 1000),
                    output=[],
                ),
            )
