"""Fan-out under Runpod's documented rate limits, against the local endpoint enforcing them.

The local endpoint runs in its own process with its rate-limit mode on (the documented
table: ``/run`` 1,000 per 10 s and 200 at once, ``/runsync`` 2,000 per 10 s and 400 at
once; a sliding window, 429 when over).  Measured, each the median of 3 runs:

- plain loop: ``for i in range(1000): ep.run(...)``, seconds until every job is submitted;
- gather: ``asyncio.gather`` of 1,000 ``ep.arun(...)``;
- run_sync loop: ``ep.run_sync(...)`` on the trivial ``echo`` handler, calls per second;
- the same plain loop and gather where ``/run`` allows 100 per 1 s window (client and
  server alike), so the limiter has to pace: the bound is 9 s (the first 100 at once,
  then 100 more each second).

1,000 jobs fit in one documented ``/run`` window, so there the limiter only caps the
requests in flight at 200 and the time is the client's and the server's own.  Every row
gives the client process's CPU time per job (its own cost, whatever else the machine is
doing; the load average is printed too) and counts the 429s the server answered (``/run``
or ``/runsync`` requests it received beyond the jobs submitted) and those that reached the
caller.  Between runs the benchmark waits for the server's window to empty.

    .venv/bin/python bench/fan_out.py [--jobs 1000] [--calls 1000] [--runs 3]

Prints a table and writes ``bench/results/fan_out.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ServedEndpoints, format_table, write_result

KEY = "bench-key-not-secret"
WINDOW = 10.0  # the documented /run and /runsync window, seconds
ENDPOINT = "fanout"
PACED = "paced"
PER_SECOND = (100, 1.0, 200)  # /run at the documented rate in 1 s windows instead of 10 s
SPEC = {"api_key": KEY, "endpoints": {
    ENDPOINT: {"handler": "echo", "workers": 2},
    PACED: {"handler": "echo", "workers": 2, "rate_limits": {"run": list(PER_SECOND)}},
}}


def received(server: ServedEndpoints, endpoint: str, op: str) -> int:
    """Requests of ``op`` the server received (whatever it answered) since its last reset."""
    return server.stats(endpoint)["by_op"].get(op, 0)


def plain_loop(ep: Any, jobs: int) -> list[Any]:
    return [ep.run({"i": i}) for i in range(jobs)]


def gather(ep: Any, jobs: int) -> list[Any]:
    async def go() -> list[Any]:
        return await asyncio.gather(*(ep.arun({"i": i}) for i in range(jobs)),
                                    return_exceptions=True)

    return asyncio.run(go())


def run_sync_loop(ep: Any, calls: int) -> list[Any]:
    results = []
    for i in range(calls):
        try:
            results.append(ep.run_sync({"i": i}))
        except Exception as exc:  # counted below, like the others' failures
            results.append(exc)
    return results


def one_run(server: ServedEndpoints, ep: Any, op: str, send: Callable[[Any, int], list[Any]],
            count: int) -> dict[str, Any]:
    from rp_jupyter.api.errors import RateLimitError

    server.reset(ep.endpoint_id)
    started, cpu = time.monotonic(), time.process_time()
    try:
        handles = send(ep, count)
    except Exception as exc:  # a plain loop stops at its first failure
        handles = [exc]
    seconds = time.monotonic() - started
    cpu = time.process_time() - cpu
    failed = [h for h in handles if isinstance(h, BaseException)]
    submitted = len(handles) - len(failed)
    return {"seconds": seconds, "per_second": submitted / seconds,
            "client_cpu_ms_each": cpu / count * 1000,
            "429_at_server": received(server, ep.endpoint_id, op) - submitted - len(failed),
            "429_to_caller": sum(isinstance(e, RateLimitError) for e in failed),
            "failed": len(failed)}


def measure(server: ServedEndpoints, ep: Any, op: str, send: Callable[[Any, int], list[Any]],
            count: int, runs: int) -> dict[str, Any]:
    results = []
    for _ in range(runs):
        time.sleep(WINDOW + 0.5)  # the server's window (and the client's) empties
        results.append(one_run(server, ep, op, send, count))
    median = statistics.median(r["seconds"] for r in results)
    return {"count": count, "median_s": median, "runs": results,
            "per_second": count / median,
            "client_cpu_ms_each": statistics.median(r["client_cpu_ms_each"] for r in results),
            "429_at_server": sum(r["429_at_server"] for r in results),
            "429_to_caller": sum(r["429_to_caller"] for r in results),
            "failed": sum(r["failed"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import rp_jupyter

    load_before = os.getloadavg()  # the machine may be shared: the table says how busy it was
    server = ServedEndpoints(SPEC)
    try:
        ep = rp_jupyter.Endpoint(ENDPOINT, base_url=server.base_url, api_key=KEY)
        paced = rp_jupyter.Endpoint(PACED, base_url=server.base_url, api_key=KEY,
                                    rate_limits={"run": PER_SECOND})
        ep.health()  # the engine and a connection, outside the timing
        paced.health()
        # the bound at 100 per 1 s: the first 100 at once, then 100 more each second
        bound = (args.jobs - 1) // PER_SECOND[0] * PER_SECOND[1]
        cases = {
            "plain loop of ep.run": (ep, "run", plain_loop, args.jobs, None),
            "asyncio.gather of ep.arun": (ep, "run", gather, args.jobs, None),
            "loop of ep.run_sync (echo)": (ep, "runsync", run_sync_loop, args.calls, None),
            "100 per 1 s: plain loop": (paced, "run", plain_loop, args.jobs, bound),
            "100 per 1 s: gather": (paced, "run", gather, args.jobs, bound),
        }
        results = {}
        for name, (endpoint, op, send, count, bound_s) in cases.items():
            results[name] = {**measure(server, endpoint, op, send, count, args.runs),
                             "op": op, "bound_s": bound_s}
    finally:
        server.stop()

    rows = [[name, r["count"], r["op"], round(r["median_s"], 2),
             "" if r["bound_s"] is None else r["bound_s"], round(r["per_second"], 1),
             round(r["client_cpu_ms_each"], 2), r["429_at_server"], r["429_to_caller"],
             r["failed"]]
            for name, r in results.items()]
    print(format_table([f"case (median of {args.runs})", "n", "op", "seconds", "bound s",
                        "per second", "client CPU ms each", "429 at server", "429 to caller",
                        "failed"], rows))
    load = {"before": load_before, "after": os.getloadavg()}
    print(f"\nload average (1, 5, 15 min) before: {load['before']}, after: {load['after']}")
    path = write_result("fan_out", {"runs": args.runs, "rate_limits": "documented",
                                    "load_average": load, "cases": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
