"""What one streaming job costs: ``/stream`` requests per second and chunk latency.

A ``chaos`` handler on the local endpoint yields chunks at a steady rate; the client reads
them with ``job.stream()`` and notes when each arrives.  Latency is the time from the
worker handing a chunk to the server (the server's chunk time) to the client seeing it.

With ``--concurrent N`` (default 50) it then streams N jobs at once on one endpoint with
the hosted rate limits on, and reports the 429s met and the worst stream's median latency.

    .venv/bin/python bench/streams.py [--chunks 100] [--interval 0.02] [--runs 3]
                                      [--concurrent 50]

Prints a table and writes ``bench/results/streams.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rp_jupyter
from bench._common import format_table, write_result
from rp_jupyter.local import LocalEndpoint


def one_stream(server: LocalEndpoint, ep: rp_jupyter.Endpoint, chunks: int,
               interval: float) -> dict[str, float]:
    job = ep.run({"chunks": chunks, "interval": interval})
    seen = [time.time() for _ in job.stream(timeout=120)]
    record = server.job_record(job.id) or {}
    made = record.get("chunk_times") or []
    latencies = sorted((s - m) * 1000 for s, m in zip(seen, made, strict=False))
    calls = sorted(e["t"] for e in server.request_log
                   if e["job_id"] == job.id and e["op"] == "stream")
    requests = len(calls)
    span = max(calls[-1] - calls[0], 1e-9) if requests > 1 else 1.0
    return {
        "chunks": len(seen),
        "stream_requests": requests,
        "requests_per_s": round((requests - 1) / span, 1),  # calls over the time they span
        "latency_median_ms": round(statistics.median(latencies), 1),
        "latency_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 1),
    }


def many_streams(count: int) -> dict[str, float]:
    """``count`` jobs streaming 20 chunks a second each, read at once on one endpoint."""
    with LocalEndpoint("chaos", workers=count) as server:
        server.wait_ready()
        ep = rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url)
        jobs = [ep.run({"chunks": 100, "interval": 0.05}) for _ in range(count)]
        with ThreadPoolExecutor(count) as pool:
            seen = list(pool.map(lambda job: [time.time() for _ in job.stream(timeout=300)],
                                 jobs))
        medians = []
        for job, times in zip(jobs, seen, strict=True):
            made = (server.job_record(job.id) or {}).get("chunk_times") or []
            medians.append(statistics.median((s - m) * 1000
                                             for s, m in zip(times, made, strict=False)))
        codes = [entry["status_code"] for entry in server.request_log]
    return {"streams": count, "429s": codes.count(429),
            "worst_median_ms": round(max(medians), 1),
            "median_of_medians_ms": round(statistics.median(medians), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=50)
    args = parser.parse_args()
    with LocalEndpoint("chaos", workers=1) as server:
        server.wait_ready()
        ep = rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url)
        runs = [one_stream(server, ep, args.chunks, args.interval) for _ in range(args.runs)]
    columns = list(runs[0])
    rows = [[run[c] for c in columns] for run in runs]
    median = {c: statistics.median(run[c] for run in runs) for c in columns}
    rows.append([median[c] for c in columns])
    print(format_table(columns, rows))
    print(f"\n{args.runs} runs of one stream at {1 / args.interval:g} chunks/s; last row: "
          "medians.  Target: <= 10 requests/s, median latency <= 100 ms.")
    many = many_streams(args.concurrent) if args.concurrent else None
    if many:
        print()
        print(format_table(list(many), [list(many.values())]))
        print("Target: 0 x 429, every stream's median latency <= 500 ms.")
    path = write_result("streams", {"chunks": args.chunks, "interval": args.interval,
                                    "runs": runs, "median": median, "concurrent": many})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
