"""Jobs per second through the local endpoint, against runpod-python's own test server.

A trivial handler (it returns ``{"ok": true}``) is served two ways:

- the local endpoint (``rp-jupyter serve``, in its own process) with 1, 2 and 4 workers,
  its job routes answered by its fast lane (``rp_jupyter/local/fast_lane.py``; the share
  of requests the lane answered is printed);
- runpod-python's ``--rp_serve_api`` server, the reference: no ``/v2`` prefix, POST only,
  and a ``/run`` job only executes inside the first ``POST /status`` (reference 6.5).

A third server shows the client's ceiling: uvicorn with an app that does no work, answering
every request at once with a finished job.  No server can be measured faster than that
with this client on this machine.

For each, jobs per second through ``/runsync`` and through ``/run`` + ``/status`` polling,
from 1 and from 8 concurrent client threads (each with its own keep-alive connection).  All
servers run at once and their measurements take turns, so a load change on a shared machine
hits them alike; each cell is the median of the repeats.

Two clients drive them.  ``httpx`` is what a Python user's loop costs: about half a
millisecond of CPU per job, on the same 2 CPUs as the servers, so it caps every server near
the ceiling row.  ``raw`` writes each HTTP/1.1 request on a kept-alive socket and reads the
answer by its ``Content-Length``: tens of microseconds per request, so what it measures is
the servers' own cost per job.

Run: ``.venv/bin/python bench/local_throughput.py [--jobs 1000] [--repeats 5]
[--client raw|httpx|both]``.  Prints a table per client and writes
``bench/results/local_throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, write_result

HANDLER = textwrap.dedent("""
    def handler(job):
        return {"ok": True}

    if __name__ == "__main__":
        import runpod

        runpod.serverless.start({"handler": handler})
""")
#: the client's ceiling: an app answering every request with a finished job, doing nothing
CEILING_APP = textwrap.dedent("""
    import sys

    import uvicorn

    BODY = b'{"id":"job-1","status":"COMPLETED","output":{"ok":true}}'
    HEAD = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": HEAD})
        await send({"type": "http.response.body", "body": BODY})

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
""")
POLL_PAUSE = 0.002
#: the local endpoint is measured with each of these numbers of worker processes
WORKER_COUNTS = (1, 2, 4)
CLIENTS = (1, 8)
REFERENCE = "runpod --rp_serve_api, 1 process"
CEILING = "ceiling: a server doing no work"
CELLS = [(key, clients) for clients in CLIENTS for key in ("runsync", "run_status")]


class HttpxConnection:
    """One keep-alive httpx client: what a user's Python loop pays per request."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.client = httpx.Client(timeout=60)

    def call(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        headers = {"content-type": "application/json"} if body is not None else None
        response = self.client.request(method, self.base + path, content=body,
                                       headers=headers)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.client.close()


class RawConnection:
    """HTTP/1.1 on one kept-alive socket and nothing else, so the server's cost is what
    shows: the request is written whole, the answer read by its ``Content-Length``."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.prefix = parts.path
        self.host = f"{parts.hostname}:{parts.port}"
        self.sock = socket.create_connection((parts.hostname, parts.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def call(self, method: str, path: str, body: bytes | None = None) -> dict[str, Any]:
        body = body or b""
        kind = "Content-Type: application/json\r\n" if body else ""
        self.sock.sendall(f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}\r\n"
                          f"{kind}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        data = self.pending
        while b"\r\n\r\n" not in data:
            data += self._read()
        head, _, data = data.partition(b"\r\n\r\n")
        found = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        if found is None:
            raise RuntimeError(f"no Content-Length in {head[:200]!r}")
        length = int(found.group(1))
        while len(data) < length:
            data += self._read()
        self.pending = data[length:]
        if head[9:12] != b"200":
            raise RuntimeError(f"{method} {path}: {head[:12]!r} {data[:length][:200]!r}")
        return json.loads(data[:length])

    def _read(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


CONNECTIONS = {"raw": RawConnection, "httpx": HttpxConnection}
EMPTY_INPUT = b'{"input":{}}'


class Target:
    """How to submit one job to a server and wait for its result."""

    def __init__(self, name: str, base: str, status_method: str,
                 proc: subprocess.Popen) -> None:
        self.name = name
        self.base = base
        self.status_method = status_method
        self.process = psutil.Process(proc.pid)

    def lane_share(self) -> str:
        """Of the client requests the local server counted, how many its fast lane took."""
        root = self.base.split("/v2/")[0]
        stats = httpx.get(f"{root}/_local/stats").json()["endpoints"]
        total = sum(ep["total"] for ep in stats.values())
        lane = sum(ep["fast_lane"] for ep in stats.values())
        return f"{lane:,} of {total:,}"

    def cpu_seconds(self) -> float:
        """CPU time of the server and every process it started (its workers)."""
        total = 0.0
        for process in (self.process, *self.process.children(recursive=True)):
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue  # ended between the listing and the reading
            total += times.user + times.system
        return total

    def runsync(self, conn: RawConnection | HttpxConnection) -> int:
        doc = conn.call("POST", "/runsync", EMPTY_INPUT)
        assert doc["status"] == "COMPLETED", doc
        return 1

    def run_status(self, conn: RawConnection | HttpxConnection) -> int:
        job_id = conn.call("POST", "/run", EMPTY_INPUT)["id"]
        requests = 1
        while True:
            doc = conn.call(self.status_method, f"/status/{job_id}")
            requests += 1
            if doc["status"] == "COMPLETED":
                return requests
            assert doc["status"] in ("IN_QUEUE", "IN_PROGRESS"), doc
            time.sleep(POLL_PAUSE)


def measure(target: Target, key: str, jobs: int, clients: int,
            connect: Callable[[str], RawConnection | HttpxConnection]) -> dict[str, float]:
    """Run ``jobs`` jobs from ``clients`` threads; jobs/s and HTTP requests per job."""
    job = target.runsync if key == "runsync" else target.run_status
    per_thread = [jobs // clients + (1 if i < jobs % clients else 0) for i in range(clients)]
    counts = [0] * clients
    errors: list[BaseException] = []

    def work(index: int, conn: RawConnection | HttpxConnection) -> None:
        try:
            for _ in range(per_thread[index]):
                counts[index] += job(conn)
        except BaseException as err:  # reported below
            errors.append(err)

    conns = [connect(target.base) for _ in range(clients)]
    try:
        for conn in conns:
            job(conn)  # warm the connection
        threads = [threading.Thread(target=work, args=(i, conn))
                   for i, conn in enumerate(conns)]
        server_cpu, client_cpu = target.cpu_seconds(), time.process_time()
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        server_cpu = target.cpu_seconds() - server_cpu
        client_cpu = time.process_time() - client_cpu
    finally:
        for conn in conns:
            conn.close()
    if errors:
        raise errors[0]
    return {"jobs_per_s": jobs / elapsed, "requests_per_job": sum(counts) / jobs,
            "seconds": elapsed, "server_cpu_us_per_job": server_cpu / jobs * 1e6,
            "client_cpu_us_per_job": client_cpu / jobs * 1e6}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_local(handler: Path, workers: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rp_jupyter.local.cli", "serve", str(handler), "--port", "0",
         "--workers", str(workers), "--no-rate-limits", "--endpoint-id", "bench"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"RUNPOD_ENDPOINT_BASE_URL=(\S+)", line)
        if found:
            base = found.group(1) + "/bench"
            break
    else:
        raise RuntimeError("local server did not start")
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, base


def start_reference(handler: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "UVICORN_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [sys.executable, str(handler), "--rp_serve_api", "--rp_api_host", "127.0.0.1",
         "--rp_api_port", str(port)], env=env, cwd=handler.parent,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, answering(proc, f"http://127.0.0.1:{port}")


def start_ceiling(app: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(app), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, answering(proc, f"http://127.0.0.1:{port}")


def answering(proc: subprocess.Popen, base: str) -> str:
    """``base`` once the server there answers a ``/runsync``."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.post(f"{base}/runsync", json={"input": {}}).status_code == 200:
                return base
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server for {base} did not start")
        time.sleep(0.1)


def reference_refuses_two_workers(handler: Path) -> str:
    """What runpod's server does when asked for 2 API workers."""
    done = subprocess.run(
        [sys.executable, str(handler), "--rp_serve_api", "--rp_api_host", "127.0.0.1",
         "--rp_api_port", str(free_port()), "--rp_api_concurrency", "2"],
        cwd=handler.parent, capture_output=True, text=True, timeout=60)
    lines = [ln.strip() for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    return f"exit {done.returncode}: {lines[-1] if lines else ''}"


def bench_targets(targets: dict[str, Target], jobs: int, repeats: int,
                  connect: Callable[[str], RawConnection | HttpxConnection]) -> dict[str, Any]:
    """Every cell measured ``repeats`` times per server, the servers taking turns; the run
    with the median rate is kept."""
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {f"{key}_{c}": [] for key, c in CELLS} for name in targets}
    for _ in range(repeats):
        for key, clients in CELLS:
            for name, target in targets.items():
                runs[name][f"{key}_{clients}"].append(
                    measure(target, key, jobs, clients, connect))
    result: dict[str, Any] = {}
    for name, cells in runs.items():
        result[name] = {}
        for cell, measured in cells.items():
            ordered = sorted(measured, key=lambda r: r["jobs_per_s"])
            result[name][cell] = {**ordered[len(ordered) // 2],
                                  "all_jobs_per_s": [r["jobs_per_s"] for r in measured]}
    return result


def report(client: str, results: dict[str, Any], jobs: int, repeats: int) -> dict[str, float]:
    """Print one client's table; the best local server over runpod's, per cell."""
    columns = ["server", *[f"{'runsync' if key == 'runsync' else 'run+status'} x{c}"
                           for key, c in CELLS], "req/job (run+status x8)"]
    rows = []
    for name, data in results.items():
        rows.append([name, *[data[f"{key}_{c}"]["jobs_per_s"] for key, c in CELLS],
                     data[f"run_status_{CLIENTS[-1]}"]["requests_per_job"]])
    rows.append(["runpod --rp_serve_api, 2 processes", "n/a", "n/a", "n/a", "n/a", ""])
    ratios = {cell: max(results[name][cell]["jobs_per_s"] for name in results
                        if name.startswith("local"))
              / results[REFERENCE][cell]["jobs_per_s"]
              for cell in (f"{key}_{c}" for key, c in CELLS)}
    rows.append(["best local / runpod", *[f"{ratios[f'{key}_{c}']:.2f}x" for key, c in CELLS],
                 ""])
    print(f"\nClient {client}: jobs per second, trivial handler, median of {repeats} runs of "
          f"{jobs} jobs (xN = N concurrent clients); {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(format_table(columns, rows))
    cpu_columns = ["CPU us per job", *[f"{'runsync' if key == 'runsync' else 'run+status'} x{c}"
                                       for key, c in CELLS]]
    cpu_rows = [[f"{name}: server{' + workers' if name.startswith('local') else ''}",
                 *[data[f"{key}_{c}"]["server_cpu_us_per_job"] for key, c in CELLS]]
                for name, data in results.items()]
    cpu_rows.append([f"this {client} client, against runpod",
                     *[results[REFERENCE][f"{key}_{c}"]["client_cpu_us_per_job"]
                       for key, c in CELLS]])
    print(format_table(cpu_columns, cpu_rows))
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per cell")
    parser.add_argument("--client", choices=["raw", "httpx", "both"], default="both")
    args = parser.parse_args()
    clients = list(CONNECTIONS) if args.client == "both" else [args.client]
    procs: list[subprocess.Popen] = []
    targets: dict[str, Target] = {}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        handler = Path(tmp) / "main.py"
        handler.write_text(HANDLER)
        ceiling = Path(tmp) / "ceiling.py"
        ceiling.write_text(CEILING_APP)
        try:
            for workers in WORKER_COUNTS:
                proc, base = start_local(handler, workers)
                procs.append(proc)
                targets[f"local, {workers} worker{'s' if workers > 1 else ''}"] = Target(
                    "local", base, "GET", proc)
            proc, base = start_reference(handler)
            procs.append(proc)
            targets[REFERENCE] = Target("runpod", base, "POST", proc)
            proc, base = start_ceiling(ceiling)
            procs.append(proc)
            targets[CEILING] = Target("ceiling", base, "GET", proc)
            for client in clients:
                results[client] = bench_targets(targets, args.jobs, args.repeats,
                                                CONNECTIONS[client])
            lanes = {name: target.lane_share() for name, target in targets.items()
                     if target.name == "local"}
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(30)
        refused = reference_refuses_two_workers(handler)
    ratios = {client: report(client, results[client], args.jobs, args.repeats)
              for client in clients}
    for name, share in lanes.items():
        print(f"{name}: requests answered by the fast lane: {share}")
    print(f"runpod with --rp_api_concurrency 2: {refused}")
    path = write_result("local_throughput", {
        "jobs_per_measurement": args.jobs, "repeats": args.repeats, "clients": list(CLIENTS),
        "status_poll_pause_s": POLL_PAUSE, "results": results, "local_over_runpod": ratios,
        "runpod_two_workers": refused, "fast_lane_share": lanes, "cpus": os.cpu_count(),
        "load_average": os.getloadavg()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
