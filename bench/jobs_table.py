"""What one tick of the live ``%runpod jobs`` table costs with 200 streamed rows.

200 jobs stream 300 words each from the ``tokens`` handler on a local endpoint (in its own
server process); the journal keeps every chunk.  The live table over those 200 records is
shown with a recording frontend in place of a browser, and its ``tick`` (the ticker's call)
is timed when nothing changed, when one row's job changed, and when every row's job
changed (with the table's message budget, and with no budget so every row is rebuilt).
For comparison, the cost of rebuilding every row from its record, chunks read and decoded
again, which is what a tick did before rows kept their cells.

Target: under 5 ms per tick with 200 streamed rows.

Run from the repository root::

    .venv/bin/python bench/jobs_table.py
    .venv/bin/python bench/jobs_table.py --rows 50 --words 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import format_table, write_result  # noqa: E402

TICKS = 200


def make_records(rows: int, words: int) -> list:
    """``rows`` finished streaming jobs in the journal, through a real local endpoint."""
    from rp_jupyter.jobs.endpoint import Endpoint
    from rp_jupyter.jobs.journal import JobJournal
    from rp_jupyter.local import LocalServer

    prompt = " ".join(f"word{i}" for i in range(words))
    with LocalServer() as server:
        server.add_endpoint("bench-tokens", "tokens", workers=2)
        server.endpoints["bench-tokens"].wait_ready(timeout=60)
        endpoint = Endpoint("bench-tokens", base_url=server.base_url)
        jobs = [endpoint.run({"prompt": prompt, "rate": 0, "max_tokens": words})
                for _ in range(rows)]
        for job in jobs:
            job.result(120)
    journal = JobJournal.open()
    journal.flush()
    records = journal.list(limit=rows)
    assert all(r.chunk_count == words for r in records), "every row streamed its words"
    return records


def timed(step, count: int = TICKS) -> list[float]:
    """Milliseconds of each of ``count`` calls of ``step(i)``."""
    times = []
    for i in range(count):
        start = time.perf_counter()
        step(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def measure(records: list) -> list[dict]:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from rp_jupyter.notebook import jobs_table
    from rp_jupyter.notebook.jobs_table import JobsTable
    from rp_jupyter.notebook.ticker import MessageBudget, ticker
    from tests.notebook.fake_jobs import driven_job
    from tests.notebook.recording import install_display_recorder, recording_comms

    config = Config()
    config.HistoryAccessor.enabled = False
    shell = InteractiveShell.instance(config=config)
    results = []
    with recording_comms() as recorder:
        install_display_recorder(shell, recorder)
        table = JobsTable(records, endpoint_for=lambda record: None)
        table.show()
        deadline = time.monotonic() + 10
        while table in ticker() and time.monotonic() < deadline:
            time.sleep(0.01)  # the first tick finds nothing to send and leaves the ticker
        ticker().discard(table)
        clock = [time.monotonic()]

        def tick(_i: int) -> None:
            clock[0] += 0.05  # the ticker's interval: the budget refills as it would
            table.tick(clock[0])

        def case(name: str, step, changed: int) -> None:
            sent_before = len(recorder.updates())
            times = timed(step)
            results.append({
                "case": name, "rows": len(records), "rows changed per tick": changed,
                "median ms": statistics.median(times),
                "p95 ms": sorted(times)[int(0.95 * (len(times) - 1))],
                "max ms": max(times),
                "messages per tick": (len(recorder.updates()) - sent_before) / len(times),
            })

        case("nothing changed", tick, 0)

        jobs = [driven_job(f"bench-{i:04d}-aaaa-bbbb", "bench-tokens") for i in range(len(records))]
        table.rows[0].job = jobs[0]

        def one_changed(i: int) -> None:
            jobs[0].execution_ms = i * 1000  # what the engine sets from a /status answer
            tick(i)

        case("one row changed", one_changed, 1)

        for row, job in zip(table.rows, jobs, strict=True):
            row.job = job

        def all_changed(i: int) -> None:
            for job in jobs:
                job.execution_ms = i * 1000
            tick(i)

        case("all rows changed (budget: 20 messages/s)", all_changed, len(records))
        table.budget = MessageBudget(rate=1e12, burst=1e12)
        case("all rows changed, all rebuilt (no budget)", all_changed, len(records))

        def every_row_again(_i: int) -> None:  # a tick before rows kept their cells
            for row in table.rows:
                jobs_table._row_html(jobs_table._fields(row.record), table.columns)

        case("every row read and decoded again (before)", every_row_again, len(records))
        table.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--words", type=int, default=300, help="chunks each job streams")
    args = parser.parse_args()
    os.environ["RP_JUPYTER_HOME"] = tempfile.mkdtemp(prefix="rp-bench-table-")
    records = make_records(args.rows, args.words)
    results = measure(records)
    columns = ["case", "rows", "rows changed per tick", "median ms", "p95 ms", "max ms",
               "messages per tick"]
    shown = [[f"{r[c]:.2f}" if isinstance(r[c], float) else r[c] for c in columns]
             for r in results]
    print(format_table(columns, shown))
    nothing = results[0]["median ms"]
    one = results[1]["median ms"]
    print(f"target: under 5 ms per tick: nothing changed {nothing:.2f} ms, "
          f"one row changed {one:.2f} ms")
    path = write_result("jobs_table", {"rows": args.rows, "chunks_per_row": args.words,
                                       "ticks": TICKS, "results": results})
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
