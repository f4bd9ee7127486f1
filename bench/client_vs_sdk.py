"""rp_jupyter's client beside the official ``runpod`` SDK, against one local endpoint.

The local endpoint runs in its own process (so its CPU does not share this one's GIL) and
counts every request it receives, per job; its job records carry server-side timestamps.
Measured, for both clients in the same run:

- notice latency: from the server marking a job final (``finished_at``) to the client
  holding the result, for jobs of 0.2 s, 1 s and 5 s (SDK: ``run()`` + ``output()``);
- HTTP requests per job, as counted by the server;
- streaming: from a chunk reaching the server to the client receiving it, 50 chunks at
  20 per second (SDK: ``run()`` + ``stream()``), and whether every chunk came once, in order;
- fan-out: 1,000 jobs through ``/run`` limited to 100 per second at the server; time until
  all are submitted, 429s met at the server and 429s reaching the caller (SDK: 32 threads).

Run: ``.venv/bin/python bench/client_vs_sdk.py [--quick]``.  Prints a table and writes
``bench/results/client_vs_sdk.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ServedEndpoints, format_table, write_result

KEY = "bench-key-not-secret"
RUN_LIMIT = (100, 1.0, 200)  # /run: 100 per second (the documented 1,000 per 10 s)
WORDS = [f"w{i:02d}" for i in range(50)]
TOKENS = {"prompt": " ".join(WORDS), "rate": 20, "max_tokens": 50}
SPEC = {
    "api_key": KEY,
    "endpoints": {
        "sleepy": {"handler": "rp_jupyter.local.examples.chaos:plain", "workers": 2},
        "tokens": {"handler": "tokens", "workers": 2},
        "fanout": {"handler": "echo", "workers": 2, "rate_limits": {"run": list(RUN_LIMIT)}},
    },
}


# -- the two clients ----------------------------------------------------------------------


def rp_endpoint(server: ServedEndpoints, endpoint_id: str, **options: Any) -> Any:
    import rp_jupyter

    return rp_jupyter.Endpoint(endpoint_id, base_url=server.base_url, api_key=KEY, **options)


def sdk_endpoint(server: ServedEndpoints, endpoint_id: str) -> Any:
    import runpod

    # runpod sets up logging on import; keep its request lines and pool warnings off the table
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    runpod.api_key = KEY
    runpod.endpoint_url_base = server.base_url
    return runpod.Endpoint(endpoint_id)


def rp_result(ep: Any, job_input: dict[str, Any]) -> tuple[str, float]:
    job = ep.run(job_input)
    job.result(timeout=120)
    return job.id, time.time()


def sdk_result(ep: Any, job_input: dict[str, Any]) -> tuple[str, float]:
    job = ep.run(job_input)
    job.output(timeout=120)
    return job.job_id, time.time()


def rp_stream(ep: Any, job_input: dict[str, Any]) -> tuple[str, list[Any], list[float]]:
    job = ep.run(job_input)
    chunks, times = [], []
    for chunk in job.stream(timeout=60):
        chunks.append(chunk)
        times.append(time.time())
    return job.id, chunks, times


def sdk_stream(ep: Any, job_input: dict[str, Any]) -> tuple[str, list[Any], list[float]]:
    job = ep.run(job_input)
    chunks, times = [], []
    for chunk in job.stream():
        chunks.append(chunk)
        times.append(time.time())
    return job.job_id, chunks, times


# -- measurements -------------------------------------------------------------------------


def notice(server: ServedEndpoints, clients: dict[str, tuple[Any, Callable[..., Any]]],
                    seconds: float, repeats: int) -> dict[str, dict[str, Any]]:
    """Notice latency (ms) and requests per job, alternating the clients job by job."""
    ids: dict[str, list[str]] = {name: [] for name in clients}
    latency: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(repeats):
        for name, (ep, get_result) in clients.items():
            job_id, in_hand = get_result(ep, {"sleep": seconds})
            record = server.job("sleepy", job_id)
            latency[name].append((in_hand - record["finished_at"]) * 1000)
            ids[name].append(job_id)
    # the last follower request may still be on its way when the result is in hand
    time.sleep(0.5)
    counts = server.stats("sleepy")["by_job"]
    return {name: {**_stats(latency[name]),
                   "requests_per_job": statistics.mean(counts.get(i, 0) for i in ids[name])}
            for name in clients}


def streaming(server: ServedEndpoints, clients: dict[str, tuple[Any, Callable[..., Any]]],
              repeats: int) -> dict[str, dict[str, Any]]:
    expected = [word + " " for word in WORDS]
    latency: dict[str, list[float]] = {name: [] for name in clients}
    exact: dict[str, bool] = {name: True for name in clients}
    ids: dict[str, list[str]] = {name: [] for name in clients}
    for _ in range(repeats):
        for name, (ep, get_stream) in clients.items():
            job_id, chunks, times = get_stream(ep, TOKENS)
            produced = server.job("tokens", job_id)["chunk_times"]
            exact[name] &= chunks == expected
            latency[name].extend((t - p) * 1000 for t, p in zip(times, produced, strict=False))
            ids[name].append(job_id)
    time.sleep(0.5)
    counts = server.stats("tokens")["by_job"]
    return {name: {**_stats(latency[name]), "every_chunk_once_in_order": exact[name],
                   "requests_per_job": statistics.mean(counts.get(i, 0) for i in ids[name])}
            for name in clients}


def fan_out_rp(server: ServedEndpoints, jobs: int) -> dict[str, Any]:
    from rp_jupyter.api.errors import RateLimitError

    ep = rp_endpoint(server, "fanout", rate_limits={"run": RUN_LIMIT})
    ep.health()  # start the engine and the connection outside the timing
    server.reset("fanout")

    async def go() -> tuple[float, float, list[Any]]:
        started = time.monotonic()
        handles = await asyncio.gather(*(ep.arun({"i": i}) for i in range(jobs)),
                                       return_exceptions=True)
        submitted = time.monotonic() - started
        live = [h for h in handles if not isinstance(h, BaseException)]
        await asyncio.gather(*(h.aresult(timeout=300) for h in live), return_exceptions=True)
        return submitted, time.monotonic() - started, handles

    submitted, finished, handles = asyncio.run(go())
    time.sleep(0.5)
    stats = server.stats("fanout")
    errors = [h for h in handles if isinstance(h, BaseException)]
    return {"jobs": jobs, "submitted_s": submitted, "all_results_s": finished,
            "run_requests_at_server": stats["by_op"].get("run", 0),
            "429_met_at_server": stats["by_op"].get("run", 0) - jobs + len(errors),
            "429_reaching_caller": sum(isinstance(e, RateLimitError) for e in errors),
            "errors": len(errors), "requests_per_job": stats["total"] / jobs}


def fan_out_sdk(server: ServedEndpoints, jobs: int, threads: int = 32) -> dict[str, Any]:
    ep = sdk_endpoint(server, "fanout")
    time.sleep(1.1)  # let the server's /run window empty after the previous client
    server.reset("fanout")
    errors: list[str] = []

    def submit(i: int) -> None:
        try:
            ep.run({"i": i})
        except Exception as exc:  # the SDK raises requests.HTTPError on a 429
            errors.append(str(exc))

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(submit, range(jobs)))
    submitted = time.monotonic() - started
    stats = server.stats("fanout")
    return {"jobs": jobs, "submitted_s": submitted, "all_results_s": None,
            "run_requests_at_server": stats["by_op"].get("run", 0),
            "429_met_at_server": sum("429" in e for e in errors),
            "429_reaching_caller": sum("429" in e for e in errors),
            "errors": len(errors), "requests_per_job": stats["total"] / jobs}


def _stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {"n": len(values), "median_ms": statistics.median(ordered),
            "p90_ms": ordered[int(0.9 * (len(ordered) - 1))], "max_ms": ordered[-1]}


# -- the run ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    os.environ.setdefault("RP_JUPYTER_HOME", tempfile.mkdtemp(prefix="rp-bench-"))
    repeats = {0.2: 10, 1.0: 8, 5.0: 4} if not args.quick else {0.2: 3, 1.0: 2, 5.0: 1}
    stream_repeats = 3 if not args.quick else 1
    fan_jobs = 1000

    server = ServedEndpoints(SPEC)
    try:
        results: dict[str, Any] = {"notice": {}, "stream": {}, "fan_out": {}}
        sleepy = {"rp_jupyter": (rp_endpoint(server, "sleepy"), rp_result),
                  "runpod SDK": (sdk_endpoint(server, "sleepy"), sdk_result)}
        for seconds, n in repeats.items():
            results["notice"][f"{seconds:g}s"] = notice(server, sleepy, seconds, n)
        tokens = {"rp_jupyter": (rp_endpoint(server, "tokens"), rp_stream),
                  "runpod SDK": (sdk_endpoint(server, "tokens"), sdk_stream)}
        results["stream"] = streaming(server, tokens, stream_repeats)
        results["fan_out"] = {"rp_jupyter": fan_out_rp(server, fan_jobs),
                              "runpod SDK": fan_out_sdk(server, fan_jobs)}
    finally:
        server.stop()
    print(report(results))
    path = write_result("client_vs_sdk", {"run_limit": RUN_LIMIT, **results})
    print(f"\nwrote {path}")


def report(results: dict[str, Any]) -> str:
    rows: list[list[Any]] = []
    for duration, by_client in results["notice"].items():
        rp, sdk = by_client["rp_jupyter"], by_client["runpod SDK"]
        rows.append([f"notice latency, {duration} job: median ms", rp["median_ms"],
                     sdk["median_ms"], "<= 100", _met(rp["median_ms"] <= 100)])
        rows.append([f"notice latency, {duration} job: p90 ms", rp["p90_ms"], sdk["p90_ms"],
                     "", ""])
        rows.append([f"requests per job, {duration} job", rp["requests_per_job"],
                     sdk["requests_per_job"], "<= SDK",
                     _met(rp["requests_per_job"] <= sdk["requests_per_job"])])
    rp, sdk = results["stream"]["rp_jupyter"], results["stream"]["runpod SDK"]
    rows.append(["stream chunk latency: median ms", rp["median_ms"], sdk["median_ms"],
                 "<= 100", _met(rp["median_ms"] <= 100)])
    rows.append(["stream chunk latency: p90 ms", rp["p90_ms"], sdk["p90_ms"], "", ""])
    rows.append(["stream: requests per job", rp["requests_per_job"], sdk["requests_per_job"],
                 "", ""])
    rows.append(["stream: every chunk once, in order", rp["every_chunk_once_in_order"],
                 sdk["every_chunk_once_in_order"], "yes", _met(rp["every_chunk_once_in_order"])])
    rp, sdk = results["fan_out"]["rp_jupyter"], results["fan_out"]["runpod SDK"]
    rows.append(["fan-out 1,000 jobs: submitted in s", rp["submitted_s"], sdk["submitted_s"],
                 "<= 11", _met(rp["submitted_s"] <= 11)])
    rows.append(["fan-out: all 1,000 results in hand, s", rp["all_results_s"], None, "", ""])
    rows.append(["fan-out: 429s met at the server", rp["429_met_at_server"],
                 sdk["429_met_at_server"], "", ""])
    rows.append(["fan-out: 429s reaching the caller", rp["429_reaching_caller"],
                 sdk["429_reaching_caller"], "0", _met(rp["429_reaching_caller"] == 0)])
    rows.append(["fan-out: failed submissions", rp["errors"], sdk["errors"], "0",
                 _met(rp["errors"] == 0)])
    return format_table(["measure", "rp_jupyter", "runpod SDK", "target", "met"], rows)


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


if __name__ == "__main__":
    main()
