"""Sequential requests over one kept-alive connection to the local endpoint.

The case a user's plain loop hits: ``for x in xs: ep.run(...)`` or ``ep.run_sync(...)``,
one request after another on the same connection.  A server socket that leaves Nagle's
algorithm on stalls every request after the first by about 40 ms (the client's delayed
ACK); this benchmark shows that stall as a gap between the first and later requests.

    .venv/bin/python bench/keepalive.py [--requests 300]

Prints a table and writes ``bench/results/keepalive.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench._common import format_table, write_result
from rp_jupyter.local import LocalEndpoint


def _timings(send, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        send()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _row(loop: str, name: str, times: list[float]) -> dict[str, float | str]:
    later = times[1:]
    return {
        "server loop": loop,
        "case": name,
        "first_ms": round(times[0], 2),
        "later_median_ms": round(statistics.median(later), 2),
        "later_p95_ms": round(sorted(later)[int(len(later) * 0.95) - 1], 2),
        "per_second": round(len(later) / (sum(later) / 1000), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    rows = []
    import rp_jupyter

    # "asyncio" is what a plain install runs (no uvloop); uvloop sets TCP_NODELAY itself
    for loop in ("asyncio", "auto"):
        with LocalEndpoint("echo", workers=1, rate_limits="off", loop=loop) as server:
            server.wait_ready()
            with httpx.Client(base_url=server.url) as http:  # one connection, kept alive
                rows.append(_row(loop, "GET /health", _timings(
                    lambda: http.get("/health"), args.requests)))
                rows.append(_row(loop, "POST /run", _timings(
                    lambda: http.post("/run", json={"input": {"x": 1}}), args.requests)))
                rows.append(_row(loop, "POST /runsync (echo)", _timings(
                    lambda: http.post("/runsync", json={"input": {"x": 1}}), args.requests)))
            ep = rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url)
            rows.append(_row(loop, "Endpoint.run loop", _timings(
                lambda ep=ep: ep.run({"x": 1}), args.requests)))
            rows.append(_row(loop, "Endpoint.run_sync loop", _timings(
                lambda ep=ep: ep.run_sync({"x": 1}), args.requests)))
    columns = list(rows[0])
    print(format_table(columns, [[row[c] for c in columns] for row in rows]))
    print(f"\n{args.requests} sequential requests per case on one connection.")
    print("A 'later' median far above 'first' (tens of ms) means a Nagle/delayed-ACK stall.")
    path = write_result("keepalive", {"requests": args.requests, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
