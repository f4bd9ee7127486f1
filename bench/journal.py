"""What the journal costs: per chunk appended, per job recorded, per cache lookup.

Everything goes through the journal's own write path (one writer thread per process,
whatever is queued committed in one transaction), on a fresh file:

- chunks: 10,000 appended one per call, as a follower does when each ``/stream`` answer
  carries one chunk; amortised cost per chunk, and the cost when each append is awaited;
- jobs: the whole life of 2,000 jobs (submitting, submitted, running, final with output);
- cache: with 100,000 completed jobs in the journal, ``Endpoint.run(..., cache="use")``
  answered from the journal (the full call, no server), and the journal lookup alone.

Targets: <= 50 us per chunk amortised, <= 5 ms per cache hit.  Run:
``.venv/bin/python bench/journal.py [--jobs 100000]``; prints a table and writes
``bench/results/journal.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, write_result

BASE_URL = "http://127.0.0.1:9/v2"  # never contacted: every answer comes from the journal
ENDPOINT = "bench"
CHUNKS = 10_000
LIFECYCLES = 2_000
LOOKUPS = 1_000


def journal_at(folder: str) -> Any:
    from rp_jupyter.jobs.journal import JobJournal

    return JobJournal(Path(folder) / "journal.sqlite3")


def submitting(journal: Any, request: Any) -> Any:
    return journal.record_submitting(
        base_url=BASE_URL, endpoint_id=ENDPOINT, mode="run", request=request.redacted,
        input_hash=request.input_hash, request_hash=request.request_hash)


def chunk_costs(journal: Any) -> dict[str, float]:
    from rp_jupyter.api.request import build_request

    key = submitting(journal, build_request({"prompt": "chunks"})).result()
    chunk = {"token": "word ", "index": 0}
    started = time.perf_counter()
    futures = [journal.append_chunks(key, 1, i, [chunk]) for i in range(CHUNKS)]
    futures[-1].result()
    amortised = (time.perf_counter() - started) / CHUNKS
    assert all(f.exception() is None for f in futures)
    started = time.perf_counter()
    for i in range(CHUNKS, CHUNKS + 1000):
        journal.append_chunks(key, 1, i, [chunk]).result()
    awaited = (time.perf_counter() - started) / 1000
    assert len(journal.chunk_texts(key, 1)) == CHUNKS + 1000
    return {"amortised_us": amortised * 1e6, "awaited_each_us": awaited * 1e6}


def lifecycle_cost(journal: Any, jobs: int) -> float:
    """Seconds per job for the four writes of a job's life, pipelined as the engine does."""
    from rp_jupyter.api.request import build_request

    requests = [build_request({"prompt": f"job {i}", "seed": i}) for i in range(jobs)]
    started = time.perf_counter()
    keys = [submitting(journal, r) for r in requests]
    last = None
    for i, future in enumerate(keys):
        key = future.result()
        journal.record_submitted(key, f"job-{i}", "IN_QUEUE", time.time())
        journal.record_status(key, "IN_PROGRESS", {"started_at": time.time(), "delay_ms": 3})
        last = journal.record_final(key, "COMPLETED", {"execution_ms": 40, "finished_at":
                                                       time.time()}, f'{{"reply": "done {i}"}}')
    assert last is not None
    last.result()
    return (time.perf_counter() - started) / jobs


def fill(journal: Any, jobs: int) -> None:
    """``jobs`` completed jobs, the way the engine records them."""
    from rp_jupyter.api.request import build_request

    batch = 5_000
    for start in range(0, jobs, batch):
        requests = [build_request({"prompt": f"fill {i}", "temperature": 0.7})
                    for i in range(start, min(jobs, start + batch))]
        keys = [submitting(journal, r) for r in requests]
        last = None
        for offset, future in enumerate(keys):
            key = future.result()
            journal.record_submitted(key, f"fill-{start + offset}", "IN_QUEUE")
            last = journal.record_final(key, "COMPLETED", {"finished_at": time.time()},
                                        f'{{"text": "answer {start + offset}"}}')
        if last is not None:
            last.result()


def cache_costs(jobs: int) -> dict[str, Any]:
    import rp_jupyter
    from rp_jupyter.api.request import build_request
    from rp_jupyter.jobs.journal import JobJournal

    journal = JobJournal.open()
    fill(journal, jobs)
    assert journal.count() >= jobs
    ep = rp_jupyter.Endpoint(ENDPOINT, base_url=BASE_URL)
    picks = [(i * 7919) % jobs for i in range(LOOKUPS)]
    full: list[float] = []
    for i in picks:
        started = time.perf_counter()
        job = ep.run({"prompt": f"fill {i}", "temperature": 0.7}, cache="use")
        full.append(time.perf_counter() - started)
        assert job.cached and job.result() == {"text": f"answer {i}"}
    lookup: list[float] = []
    for i in picks:
        request = build_request({"prompt": f"fill {i}", "temperature": 0.7})
        started = time.perf_counter()
        record = journal.find_reusable(BASE_URL, ENDPOINT, request.request_hash)
        lookup.append(time.perf_counter() - started)
        assert record is not None
    misses: list[float] = []
    for i in range(200):
        miss = build_request({"prompt": f"never sent {i}"})
        started = time.perf_counter()
        assert journal.find_reusable(BASE_URL, ENDPOINT, miss.request_hash) is None
        misses.append(time.perf_counter() - started)
    return {"jobs_in_journal": journal.count(),
            "hit_median_ms": statistics.median(full) * 1e3,
            "hit_p99_ms": sorted(full)[int(0.99 * (len(full) - 1))] * 1e3,
            "lookup_median_us": statistics.median(lookup) * 1e6,
            "miss_median_us": statistics.median(misses) * 1e6,
            "journal_mb": journal.size_bytes() / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the journal")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rp-journal-bench-") as folder:
        os.environ["RP_JUPYTER_HOME"] = str(Path(folder) / "home")
        journal = journal_at(folder)
        chunks = chunk_costs(journal)
        per_job = lifecycle_cost(journal, LIFECYCLES)
        journal.close()
        cache = cache_costs(args.jobs)
    rows = [
        ["chunk appended, amortised (10,000 chunks)", chunks["amortised_us"], "us", "<= 50",
         _met(chunks["amortised_us"] <= 50)],
        ["chunk appended, each awaited", chunks["awaited_each_us"], "us", "", ""],
        [f"job recorded, 4 writes ({LIFECYCLES:,} jobs)", per_job * 1e6, "us", "", ""],
        [f"cache hit, Endpoint.run(cache='use'), median ({cache['jobs_in_journal']:,} jobs)",
         cache["hit_median_ms"], "ms", "<= 5", _met(cache["hit_median_ms"] <= 5)],
        ["cache hit, p99", cache["hit_p99_ms"], "ms", "", ""],
        ["cache lookup alone (journal query), median", cache["lookup_median_us"], "us", "", ""],
        ["cache miss (journal query), median", cache["miss_median_us"], "us", "", ""],
        ["journal size", cache["journal_mb"], "MB", "", ""],
    ]
    print(format_table(["measure", "value", "unit", "target", "met"], rows))
    path = write_result("journal", {"chunks": chunks, "job_recorded_us": per_job * 1e6,
                                    "cache": cache})
    print(f"\nwrote {path}")


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


if __name__ == "__main__":
    main()
