"""Where a ``/runsync`` job's time goes: the local endpoint's server against runpod's.

Each server runs under ``cProfile`` timed by the CPU time of the thread that serves (the
local endpoint with one worker process, runpod-python's ``--rp_serve_api`` with its handler
inside), takes ``--jobs``
trivial ``/runsync`` jobs from one raw HTTP client (``bench/local_throughput.py``), and
stops; its profile is grouped by where the code lives (the HTTP server, the event loop, the
web framework, JSON, each module of the server's own) and printed as microseconds of own
time per job.  The profiler slows every call by a similar amount, so read the shares, and
take the absolute cost per job from ``bench/local_throughput.py``'s CPU table.  The local
endpoint's worker process is not profiled: it runs beside the server, on the other CPU.

Then, without a profiler, the latency of one ``/runsync`` at a time against runpod's server,
the local endpoint, a uvicorn app doing no work and a bare asyncio server doing no work (the
least a server in Python can do: what the local endpoint's fast lane is built on), with the
CPU each process used per job meanwhile (one job at a time, the client, the server and its
worker run one after another, so the latency is at least their sum), and of one job-sized
message to another process and back over a socket pair: the floor under any server that
keeps its handlers in worker processes, set against what 2x runpod's rate would allow.

Run: ``.venv/bin/python bench/local_profile.py [--jobs 3000]``.  Prints a table and writes
``bench/results/local_profile.json``.
"""

from __future__ import annotations

import argparse
import pstats
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, write_result
from local_throughput import (
    CEILING_APP,
    EMPTY_INPUT,
    HANDLER,
    RawConnection,
    answering,
    free_port,
    start_ceiling,
    start_local,
    start_reference,
)

#: (group, pattern on the code's file path), first match wins
GROUPS = [
    ("uvicorn HTTP protocol (httptools)", r"/uvicorn/"),
    ("httptools parser", r"httptools"),
    ("fastapi + pydantic (routing, validation)", r"/(fastapi|pydantic|pydantic_core)/"),
    ("starlette (responses, routing)", r"/starlette/"),
    ("runpod-python job handling", r"/runpod/"),
    ("json", r"/json/"),
    ("job ids (uuid4)", r"/uuid\.py"),
    ("asyncio event loop and futures", r"/asyncio/|uvloop|_weakrefset|<built-in method _asyncio|"
                                        r"<method '(run|cancel|set_result|done|add_done)"),
    ("socket writes and reads", r"<method '(write|send|recv|sendall)|socket"),
]
OTHER = "other (builtins, logging, typing, ...)"


#: profiles the thread that runs ``uvicorn.Server.run``, by its CPU time (both servers run in
#: uvicorn; imports and start-up before it serves are left out)
PROFILE_UVICORN = textwrap.dedent("""
    import cProfile, time
    import uvicorn

    profiler = cProfile.Profile(time.thread_time)
    serve = uvicorn.Server.run

    def profiled(self, *args, **kwargs):
        profiler.enable()
        try:
            return serve(self, *args, **kwargs)
        finally:
            profiler.disable()

    uvicorn.Server.run = profiled
""")
#: the local endpoint in-process; the end of stdin stops it
LOCAL_DRIVER = PROFILE_UVICORN + textwrap.dedent("""
    import sys
    from rp_jupyter.local.server import LocalServer

    server = LocalServer(port=0)
    handle = server.add_endpoint("bench", sys.argv[1], workers=1, rate_limits="off")
    server.start()
    handle.wait_ready()
    print(server.base_url + "/bench", flush=True)
    sys.stdin.read()
    server.stop()
    profiler.dump_stats(sys.argv[2])
""")
#: runpod's test server, run as its script; SIGINT stops it
RUNPOD_DRIVER = PROFILE_UVICORN + textwrap.dedent("""
    import runpy, sys

    handler, out = sys.argv[1], sys.argv[2]
    sys.argv = [handler, *sys.argv[3:]]
    try:
        runpy.run_path(handler, run_name="__main__")
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        profiler.dump_stats(out)
""")


def serve_local(handler: Path, profile: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", LOCAL_DRIVER, str(handler), str(profile)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    base = proc.stdout.readline().strip()
    if not base.startswith("http"):
        raise RuntimeError("the local server did not start")
    return proc, base


def serve_runpod(handler: Path, profile: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNPOD_DRIVER, str(handler), str(profile), "--rp_serve_api",
         "--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)],
        cwd=handler.parent, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    return proc, answering(proc, f"http://127.0.0.1:{port}")


def stop(proc: subprocess.Popen, interrupt: bool) -> None:
    """Close stdin (the local driver's stop) or send SIGINT (uvicorn's), then wait."""
    assert proc.stdin is not None
    proc.stdin.close()
    if interrupt:
        proc.send_signal(signal.SIGINT)
    proc.wait(60)


def drive(base: str, jobs: int) -> None:
    conn = RawConnection(base)
    try:
        for _ in range(jobs):
            doc = conn.call("POST", "/runsync", EMPTY_INPUT)
            assert doc["status"] == "COMPLETED", doc
    finally:
        conn.close()


def group_of(path: str, name: str) -> str:
    where = f"{path}:{name}"
    own = re.search(r"rp_jupyter/((?:local/)?\w+)\.py", path)
    if own:
        return "rp_jupyter." + own.group(1).replace("/", ".")
    for group, pattern in GROUPS:
        if re.search(pattern, where):
            return group
    return OTHER


def grouped(profile: Path, jobs: int) -> dict[str, float]:
    """Own time per job (us) by group, largest first.  A builtin's time (``len``,
    ``dict.get``, ...) counts for the code that called it."""
    totals: dict[str, float] = {}

    def add(path: str, name: str, seconds: float) -> None:
        group = group_of(path, name)
        totals[group] = totals.get(group, 0.0) + seconds

    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    for (path, _line, name), (_cc, _nc, own, _cum, callers) in stats.items():
        if path != "~" or not callers:
            add(path, name, own)
            continue
        by_caller = {caller: timing[2] for caller, timing in callers.items()}
        spread = sum(by_caller.values()) or 1.0
        for (caller_path, _l, caller_name), part in by_caller.items():
            add(caller_path, caller_name, own * part / spread)
    return dict(sorted(((g, t / jobs * 1e6) for g, t in totals.items()),
                       key=lambda item: -item[1]))


def profile_server(start: Any, handler: Path, tmp: Path, jobs: int) -> dict[str, float]:
    profile = tmp / f"{start.__name__}.prof"
    proc, base = start(handler, profile)
    try:
        drive(base, 200)  # warm: imports, first connections
        drive(base, jobs)
    finally:
        stop(proc, interrupt=start is serve_runpod)
    # the warm-up jobs are in the profile too
    return grouped(profile, jobs + 200)


#: the other end of a socket pair: answers every message with one of the same size
ECHO = textwrap.dedent("""
    import socket, sys

    sock = socket.socket(fileno=int(sys.argv[1]))
    while data := sock.recv(65536):
        sock.sendall(data)
""")
JOB_FRAME = b'{"id":"0b4f3c9e-5d0a-4c5e-9d7b-2f1e8a6c4d3b","input":{}}'


def hop_us(rounds: int) -> float:
    """Median microseconds for a job-sized message to another process and back over a
    socket pair, blocking sockets, nothing else: the least a hop to a worker can cost."""
    ours, theirs = socket.socketpair()
    echo = subprocess.Popen([sys.executable, "-c", ECHO, str(theirs.fileno())],
                            pass_fds=[theirs.fileno()])
    theirs.close()
    times = []
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            ours.sendall(JOB_FRAME)
            got = b""
            while len(got) < len(JOB_FRAME):
                got += ours.recv(65536)
            times.append(time.perf_counter() - started)
    finally:
        ours.close()
        echo.wait(30)
    return statistics.median(times[rounds // 10:]) * 1e6


def sequential_us(base: str, jobs: int) -> float:
    """Median microseconds per ``/runsync`` from one raw client, one job after another."""
    conn = RawConnection(base)
    times = []
    try:
        for _ in range(jobs):
            started = time.perf_counter()
            conn.call("POST", "/runsync", EMPTY_INPUT)
            times.append(time.perf_counter() - started)
    finally:
        conn.close()
    return statistics.median(times[jobs // 10:]) * 1e6


#: the least any HTTP server in Python can do: an asyncio protocol on uvloop answering
#: every request with a finished job as soon as its bytes are in, no parser, no app
BARE_APP = textwrap.dedent("""
    import asyncio, socket, sys
    import uvloop

    BODY = b'{"id":"job-1","status":"COMPLETED","output":{"ok":true}}'
    ANSWER = (b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\n"
              b"content-length: %d\\r\\n\\r\\n%s" % (len(BODY), BODY))

    class Bare(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buffer = transport, b""
            transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data):
            self.buffer += data
            while (end := self.buffer.find(b"\\r\\n\\r\\n")) >= 0:
                head = self.buffer[:end].lower()
                at = head.find(b"content-length:")
                size = int(head[at + 15:].split(b"\\r\\n")[0]) if at >= 0 else 0
                if len(self.buffer) < end + 4 + size:
                    return
                self.buffer = self.buffer[end + 4 + size:]
                self.transport.write(ANSWER)

    async def main():
        server = await asyncio.get_running_loop().create_server(
            Bare, "127.0.0.1", int(sys.argv[1]))
        await server.serve_forever()

    uvloop.run(main())
""")
BARE = "bare asyncio server, no work"
HOP = "hop to another process and back"


def cpu_us(process: psutil.Process) -> float:
    times = process.cpu_times()
    return (times.user + times.system) * 1e6


def floor(handler: Path, tmp: Path, jobs: int) -> tuple[dict[str, float], dict[str, float]]:
    """Latencies of one ``/runsync`` at a time (runpod, the local endpoint, uvicorn and a
    bare server doing nothing) and of one hop to another process, without a profiler; and
    the CPU each process used per job meanwhile."""
    ceiling, bare = tmp / "ceiling.py", tmp / "bare.py"
    ceiling.write_text(CEILING_APP)
    bare.write_text(BARE_APP)
    starts = {"runpod": lambda: start_reference(handler),
              "local": lambda: start_local(handler, 1),
              "uvicorn, no work": lambda: start_ceiling(ceiling),
              BARE: lambda: start_ceiling(bare)}
    latency, cpu = {}, {}
    for name, start in starts.items():
        proc, base = start()
        try:
            sequential_us(base, 200)  # warm
            server = psutil.Process(proc.pid)
            processes = {f"{name}: server": server}
            processes.update({f"{name}: worker": child for child in server.children()})
            before = {key: cpu_us(process) for key, process in processes.items()}
            latency[name] = sequential_us(base, jobs)
            cpu.update({key: (cpu_us(process) - before[key]) / jobs
                        for key, process in processes.items()})
        finally:
            proc.terminate()
            proc.wait(30)
    latency[HOP] = hop_us(jobs)
    return latency, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--keep", type=Path, help="a folder to keep the .prof files in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        handler = Path(tmp) / "main.py"
        handler.write_text(HANDLER)
        results = {"local endpoint (server process)":
                   profile_server(serve_local, handler, tmp, args.jobs),
                   "runpod --rp_serve_api": profile_server(serve_runpod, handler, tmp, args.jobs)}
        latencies, cpu = floor(handler, tmp, args.jobs)
    for server, groups in results.items():
        rows = [[group, us] for group, us in groups.items() if us >= 0.5]
        rows.append(["total (profiled)", sum(groups.values())])
        print(f"\n{server}: own time per /runsync job under cProfile, us")
        print(format_table(["where", "us per job"], rows))
    budget = latencies["runpod"] / 2
    least = latencies[BARE] + latencies[HOP]
    print("\nOne /runsync at a time from one raw client, median us (no profiler)")
    print(format_table(["", "us"], [[name, us] for name, us in latencies.items()]))
    print("\nCPU per job meanwhile, us (one job at a time: these run one after another)")
    print(format_table(["process", "us"], [[name, us] for name, us in cpu.items()]))
    print(f"2x runpod means at most {budget:.0f} us a job.  A bare server doing nothing plus "
          f"one hop to a worker process take {least:.0f} us, leaving {budget - least:.0f} us "
          f"for reading and queueing the job, the worker's loop and the answer; the local "
          f"endpoint's server uses {cpu['local: server']:.0f} us of CPU per job and its worker "
          f"{cpu.get('local: worker', 0.0):.0f} us, and takes {latencies['local']:.0f} us in all")
    path = write_result("local_profile", {"jobs": args.jobs, "us_per_job": results,
                                          "sequential_us": latencies, "cpu_us_per_job": cpu,
                                          "budget_for_2x_us": budget, "floor_us": least})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
