"""The fault soak, large: jobs through the fault-injecting proxy in front of the local
endpoint, checked against what the server really did (see ``tests/soak.py``).

A third of the jobs are plain, a third stream without ``return_aggregate_stream`` and a
third with it.  The proxy meets a share of all requests with a fault: 429 with
Retry-After, 503 or 502 before forwarding, 502 after forwarding, a reset before or after
forwarding.  Each run reports lost results, hangs, silent chunk gaps, duplicate
executions and unflagged ambiguous submits (all must be 0), and what was met on the way:
submits that may have been accepted (and how many the server ran), gaps the jobs
admitted, gaps filled from an aggregated output.

Run: ``.venv/bin/python bench/soak.py [--jobs 5000] [--rates 0.1,0.2] [--seed 12]``.
Prints a table and writes ``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import format_table, write_result  # noqa: E402

ROWS = [
    ("jobs", "jobs"),
    ("seconds", "seconds"),
    ("requests through the proxy", "requests"),
    ("faults injected", None),
    ("accepted", "accepted"),
    ("may have been accepted (flagged)", "maybe_accepted"),
    ("  ... of which the server ran", "maybe_accepted_ran"),
    ("refused (not sent)", "refused"),
    ("gaps admitted (stream_complete False)", "admitted_gaps"),
    ("gaps filled from the aggregate", "healed_gaps"),
    ("lost results", "lost_results"),
    ("hangs", "hangs"),
    ("silent chunk gaps", "silent_gaps"),
    ("duplicate executions", "duplicate_executions"),
    ("unflagged ambiguous submits", "unflagged_ambiguous"),
    ("journal mismatches", "journal_mismatches"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rates", default="0.1,0.2", help="fault rates, comma-separated")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workers", type=int, default=3, help="workers per endpoint")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    reports = []
    for rate in rates:
        os.environ["RP_JUPYTER_HOME"] = tempfile.mkdtemp(prefix="rp-soak-")
        from tests.soak import run_soak

        report = run_soak(args.jobs, fault_rate=rate, seed=args.seed, workers=args.workers)
        reports.append(report)
        _reset_engine()

    columns = ["", *(f"{r.fault_rate:.0%} faults" for r in reports)]
    rows = []
    for label, name in ROWS:
        if name is None:
            rows.append([label, *(sum(v for k, v in r.faults.items() if k != "ok")
                                  for r in reports)])
        else:
            rows.append([label, *(getattr(r, name) for r in reports)])
    rows.append(["jobs per second", *(r.jobs / r.seconds for r in reports)])
    rows.append(["clean", *("yes" if r.clean else "NO" for r in reports)])
    print(format_table(columns, rows))
    for report in reports:
        for problem in report.problems[:20]:
            print(f"  {report.fault_rate:.0%}: {problem}")
    path = write_result("soak", {"runs": [r.as_dict() for r in reports],
                                 "workers_per_endpoint": args.workers, "seed": args.seed})
    print(f"\nwrote {path}")
    sys.exit(0 if all(r.clean for r in reports) else 1)


def _reset_engine() -> None:
    """A fresh engine and journal for the next run (each run has its own folder)."""
    from rp_jupyter.jobs.engine import Engine
    from rp_jupyter.jobs.journal import JobJournal

    engine = Engine.peek()
    if engine is not None:
        engine.shutdown()
    with JobJournal._instances_lock:
        journals = list(JobJournal._instances.values())
    for journal in journals:
        journal.close()


if __name__ == "__main__":
    main()
