"""What costs and waits cost: the shared /health watch, the panel parts, the journal sums.

- health: 20 jobs waiting on a throttled local endpoint, each asked for its wait reason 10
  times a second (20 panels refreshing) for ``--seconds``: the /health requests the server
  received, against one per ask (a poll per panel per refresh);
- parts: one call of every panel part (notes and footer) for a finished priced job and a
  running one, as each live panel makes every second;
- journal: with ``--jobs`` finished jobs in the journal, ``rp_jupyter.cost`` by endpoint, day
  and notebook, a budget's estimate (run before every job while a budget is set), and
  today's spending.

Targets: at most one /health request per endpoint per 3 s; a part under 1 ms; an estimate
under 5 ms.  Run: ``.venv/bin/python bench/costs.py [--jobs 100000] [--seconds 10]``;
prints a table and writes ``bench/results/costs.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, write_result

WAITING_JOBS = 20
ASKS_PER_SECOND = 10


def shared_health(seconds: float) -> dict[str, Any]:
    import rp_jupyter
    from rp_jupyter.jobs.health_watch import wait_reason
    from rp_jupyter.local import LocalEndpoint

    with LocalEndpoint("echo", endpoint_id="bench-wait", throttled=1) as server:
        endpoint = rp_jupyter.Endpoint("bench-wait", base_url=server.base_url)
        jobs = [endpoint.run({"i": i}) for i in range(WAITING_JOBS)]
        server.reset_stats()
        asks = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for job in jobs:
                wait_reason(job)
                asks += 1
            time.sleep(1 / ASKS_PER_SECOND)
        polls = server.request_count("health")
        for job in jobs:
            job.cancel()
    return {"seconds": seconds, "waiting_jobs": WAITING_JOBS, "asks": asks,
            "health_requests": polls, "health_per_minute": polls * 60 / seconds}


def panel_parts() -> dict[str, Any]:
    import rp_jupyter
    from rp_jupyter.jobs.cost import set_price
    from rp_jupyter.local import LocalEndpoint
    from rp_jupyter.notebook.panel_parts import parts

    with LocalEndpoint("rp_jupyter.local.examples.chaos:plain", endpoint_id="bench-parts") as srv:
        srv.wait_ready(30)
        set_price("bench-parts", gpu="A100")
        endpoint = rp_jupyter.Endpoint("bench-parts", base_url=srv.base_url)
        done = endpoint.run({})
        done.result(30)
        running = endpoint.run({"sleep": 30})
        running.wait(1.0)
        timings = {}
        for name, job in (("final", done), ("running", running)):
            samples = []
            for _ in range(2_000):
                start = time.perf_counter()
                parts.notes(job)
                parts.footers(job)
                samples.append(time.perf_counter() - start)
            timings[name] = statistics.median(samples) * 1e6
        running.cancel()
    return {"us_per_refresh_final_job": timings["final"],
            "us_per_refresh_running_job": timings["running"]}


def fill_journal(path: Path, count: int) -> None:
    """``count`` finished jobs on 20 endpoints over 30 days, written straight to SQLite."""
    from rp_jupyter.jobs.journal import JobJournal

    JobJournal(path).close()  # creates the schema
    rng = random.Random(7)
    now = time.time()
    rows = []
    for i in range(count):
        created = now - rng.random() * 30 * 86400
        ms = rng.randint(200, 20_000)
        rows.append((f"job-{i}", f"endpoint-{i % 20}", "https://api.runpod.ai/v2", "run",
                     "COMPLETED", 1, "{}", "", "", created, created, created + ms / 1000,
                     created, ms, ms / 1000 * 0.00076, "gpu", 0.00076,
                     f"notebook-{i % 7}.ipynb"))
    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO jobs (job_id, endpoint_id, base_url, mode, status, final, request, "
        "input_hash, request_hash, created_at, submitted_at, finished_at, updated_at, "
        "execution_ms, cost, cost_source, price, origin) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def journal_sums(count: int) -> dict[str, Any]:
    from rp_jupyter.jobs.budget import estimate, spent_today
    from rp_jupyter.jobs.cost_report import cost_rows
    from rp_jupyter.jobs.engine import Engine
    from rp_jupyter.jobs.journal import JobJournal
    from rp_jupyter.jobs.session import session_of

    journal = JobJournal.open()
    fill_journal(journal.path, count)

    def timed(fn: Any, repeat: int = 20) -> float:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples) * 1000

    session = session_of(Engine.get())
    return {
        "jobs": count,
        "ms_cost_by_endpoint": timed(lambda: cost_rows(by="endpoint")),
        "ms_cost_by_day": timed(lambda: cost_rows(by="day")),
        "ms_cost_by_notebook": timed(lambda: cost_rows(by="notebook")),
        "ms_cost_last_7d_one_endpoint": timed(
            lambda: cost_rows(endpoint="endpoint-3", last=7 * 86400)),
        "ms_estimate": timed(lambda: estimate("endpoint-3", "https://api.runpod.ai/v2", 24),
                             200),
        "ms_spent_today": timed(lambda: spent_today(session, journal), 200),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["RP_JUPYTER_HOME"] = home
        health = shared_health(args.seconds)
        part = panel_parts()
        sums = journal_sums(args.jobs)
    rows = [
        ["/health requests, 20 waiting jobs asked 10x/s", f"{health['seconds']:g} s",
         health["health_requests"], f"{health['asks']} asks"],
        ["/health requests per minute", "", round(health["health_per_minute"], 1),
         "target: one per 3 s"],
        ["panel parts, finished job (us per refresh)", "", round(part[
            "us_per_refresh_final_job"], 1), "target < 1000"],
        ["panel parts, running job (us per refresh)", "", round(part[
            "us_per_refresh_running_job"], 1), "target < 1000"],
    ]
    for key, value in sums.items():
        if key.startswith("ms_"):
            rows.append([f"{key[3:].replace('_', ' ')} (ms)", f"{args.jobs:,} jobs",
                         round(value, 2), "target < 5" if key == "ms_estimate" else ""])
    print(format_table(["measure", "over", "value", "note"], rows))
    path = write_result("costs", {"health": health, "parts": part, "journal": sums})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
