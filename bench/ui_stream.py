"""How much one live job panel costs under a fast stream.

10,000 chunks at 2,000 per second go into one panel, with a recording frontend in place of
a browser.  By default (``--source local``) they come from a real job: a handler on a local
endpoint, in a separate server process, yields them, and the engine follows the job over
HTTP as it would any other, so the kernel-side CPU includes following the stream.
``--source driven`` pushes the chunks straight into a job at an exact rate instead (the
panel's own cost, without the network).

Measured: front-end messages sent (widget updates, displays, closes), the kernel's CPU
time (whole process, and the ticker thread that does the panel's work alone), and the
worst delay from a chunk being produced (reaching the server; or, driven, reaching the job)
to a front-end message showing it.  Also checked: no chunk is lost (the final rendering
holds every chunk, in order).

Targets: <= 25 messages per second, no chunk lost, kernel CPU <= 10% of one core.

Run from the repository root::

    .venv/bin/python bench/ui_stream.py                    # text chunks from a real job
    .venv/bin/python bench/ui_stream.py --kind json        # JSON chunks with progress
    .venv/bin/python bench/ui_stream.py --source driven    # chunks pushed into the job
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "ui_stream.json"
TEXT_INDEX = re.compile(r"w(\d+) ")
ITEM_INDEX = re.compile(r"chunk #(\d+) \(newest")


class DrivenFeed:
    """Chunks pushed straight into a job at an exact rate (no server)."""

    def __init__(self, chunks: int, rate: float, batch: int, kind: str) -> None:
        self.chunks, self.rate, self.batch, self.kind = chunks, rate, batch, kind

    def __enter__(self) -> DrivenFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def job(self):
        from tests.notebook.fake_jobs import ChunkFeeder, driven_job

        self._job = driven_job("bench-0000-1111-2222", "bench")
        self._feeder = ChunkFeeder(self._job, self.chunks, self.rate, batch=self.batch,
                                   make=lambda i: make_chunk(self.kind, i, self.chunks))
        return self._job

    def start(self) -> None:
        self._feeder.start()

    def join(self) -> None:
        self._feeder.join()

    def produced_at(self) -> list[float]:
        return self._feeder.added_at


class LocalFeed:
    """A real job: ``bench/_ui_handler.py`` on a local endpoint in another process."""

    def __init__(self, chunks: int, rate: float, kind: str) -> None:
        self.chunks, self.rate, self.kind = chunks, rate, kind

    def __enter__(self) -> LocalFeed:
        import subprocess

        handler = f"{Path(__file__).resolve().parent / '_ui_handler.py'}:handler"
        spec = {"endpoints": {"ui": {"handler": handler}}}
        self._server = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "_serve_endpoints.py"),
             json.dumps(spec)], stdout=subprocess.PIPE, text=True)
        self.base_url = self._server.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1"):
            raise RuntimeError("the benchmark's local server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.terminate()
        self._server.wait(10)

    def job(self):
        from rp_jupyter.jobs.endpoint import Endpoint

        self._endpoint = Endpoint("ui", base_url=self.base_url)
        self._job = self._endpoint.run({"chunks": self.chunks, "rate": self.rate,
                                        "kind": self.kind})
        return self._job

    def start(self) -> None:
        pass  # the handler starts as soon as a worker takes the job

    def join(self) -> None:
        if not self._job.wait(self.chunks / self.rate * 4 + 60):
            raise RuntimeError(f"the job did not finish: {self._job!r}")

    def produced_at(self) -> list[float]:
        """When each chunk reached the server, on this process's monotonic clock."""
        import httpx

        record = httpx.get(f"{self.base_url.removesuffix('/v2')}/_local/jobs/ui/"
                           f"{self._job.id}").json()
        offset = time.time() - time.monotonic()
        return [t - offset for t in record["chunk_times"]]


def thread_cpu_seconds(native_id: int) -> float:
    """User + system CPU of one thread of this process (Linux ``/proc``)."""
    try:
        with open(f"/proc/self/task/{native_id}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def newest_index(kind: str, value: str) -> int:
    """The highest chunk index a front-end message shows (-1 if none)."""
    pattern = TEXT_INDEX if kind == "text" else ITEM_INDEX
    found = pattern.findall(value)
    return max(map(int, found[-50:])) if found else -1


def make_chunk(kind: str, i: int, chunks: int):
    if kind == "text":
        return f"w{i} "
    return {"chunk": i, "progress": (i + 1) / chunks, "text": f"item {i}"}


def run(chunks: int, rate: float, batch: int, kind: str, source: str) -> dict:
    os.environ.setdefault("RP_JUPYTER_HOME", tempfile.mkdtemp(prefix="rp-bench-"))
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from rp_jupyter.notebook.panel import JobPanel
    from rp_jupyter.notebook.ticker import ticker
    from tests.notebook.recording import install_display_recorder, recording_comms

    config = Config()
    config.HistoryAccessor.enabled = False
    shell = InteractiveShell.instance(config=config)
    feed = LocalFeed(chunks, rate, kind) if source == "local" else DrivenFeed(
        chunks, rate, batch, kind)
    with feed, recording_comms() as recorder:
        install_display_recorder(shell, recorder)
        job = feed.job()
        panel = JobPanel(job)
        panel.show()
        cpu_start, wall_start = time.process_time(), time.monotonic()
        ticker_thread = ticker()._thread
        ticker_id = ticker_thread.native_id if ticker_thread is not None else None
        ticker_cpu_start = thread_cpu_seconds(ticker_id) if ticker_id else float("nan")
        feed.start()
        feed.join()
        stream_end = time.monotonic()
        display_id = recorder.of_kind("display")[0]["display_id"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            latest = recorder.latest_display(display_id)
            if latest and latest["kind"] == "update_display" and not panel._closing:
                break
            time.sleep(0.01)
        wall = time.monotonic() - wall_start
        cpu = time.process_time() - cpu_start
        ticker_cpu = (thread_cpu_seconds(ticker_id) - ticker_cpu_start) if ticker_id else None
        messages = recorder.snapshot()
        added_at = feed.produced_at()

    def make(i: int):
        return make_chunk(kind, i, chunks)

    stream_seconds = stream_end - wall_start
    sent = [m for m in messages if m["kind"] in ("comm_msg", "update_display", "comm_close")]
    during = [m for m in sent if m["t"] <= stream_end]
    final = recorder.latest_display(display_id)
    final_html = final["data"]["text/html"] if final else ""
    if kind == "text":
        complete = "".join(make(i) for i in range(chunks)) in final_html
    else:
        complete = f"{chunks} items" in final_html  # the output tree lists every chunk

    # when each chunk was first on screen: the first message whose newest index reaches it
    shown_at = [None] * chunks
    reached = -1
    for message in sorted(messages, key=lambda m: m["t"]):
        if message["kind"] == "comm_msg":
            value = ((message.get("data") or {}).get("state") or {}).get("value")
        elif message["kind"] == "update_display":
            value = message["data"].get("text/html", "")
            if "COMPLETED" in message["data"].get("text/plain", ""):
                value = None
                top = chunks - 1
                for i in range(reached + 1, top + 1):
                    shown_at[i] = message["t"]
                reached = max(reached, top)
        else:
            value = None
        if isinstance(value, str):
            top = min(newest_index(kind, value), chunks - 1)
            for i in range(reached + 1, top + 1):
                shown_at[i] = message["t"]
            reached = max(reached, top)
    delays = [
        shown - added
        for shown, added in zip(shown_at, added_at, strict=True)
        if shown is not None
    ]
    lost = sum(shown is None for shown in shown_at)
    delays.sort()
    result = {
        "scenario": {"chunks": chunks, "rate_per_s": rate, "batch": batch, "kind": kind,
                     "source": source},
        "stream_seconds": round(stream_seconds, 3),
        "messages_total": len(sent),
        "messages_per_second_avg": round(len(during) / stream_seconds, 2),
        "messages_per_second_max_1s_window": recorder.max_per_window(sent, 1.0),
        "widget_updates": sum(m["kind"] == "comm_msg" for m in sent),
        "display_updates": sum(m["kind"] == "update_display" for m in sent),
        "widget_closes": sum(m["kind"] == "comm_close" for m in sent),
        "kernel_cpu_percent_process": round(100 * cpu / wall, 2),
        "kernel_cpu_percent_panel_thread": (
            round(100 * ticker_cpu / wall, 2) if ticker_cpu is not None else None
        ),
        "chunk_to_display_ms_worst": round(1000 * delays[-1], 1) if delays else None,
        "chunk_to_display_ms_p50": round(1000 * delays[len(delays) // 2], 1) if delays else None,
        "chunks_lost": lost,
        "final_rendering_complete": complete,
    }
    result["targets_met"] = {
        "messages_per_second<=25": result["messages_per_second_max_1s_window"] <= 25,
        "no_chunk_lost": lost == 0 and complete,
        "kernel_cpu<=10%": result["kernel_cpu_percent_process"] <= 10,
    }
    return result


def table(result: dict) -> str:
    rows = [
        (
            "chunks / rate / batch",
            "{chunks} at {rate_per_s:g}/s, batches of {batch} ({kind}, {source})".format(
                **result["scenario"]
            ),
        ),
        ("stream duration", f"{result['stream_seconds']} s"),
        ("front-end messages (total)", result["messages_total"]),
        (
            "  widget updates / display updates / closes",
            f"{result['widget_updates']} / {result['display_updates']} / {result['widget_closes']}",
        ),
        ("messages per second (avg while streaming)", result["messages_per_second_avg"]),
        ("messages per second (worst 1 s window)", result["messages_per_second_max_1s_window"]),
        ("kernel CPU, whole process (% of one core)", result["kernel_cpu_percent_process"]),
        ("kernel CPU, panel thread (% of one core)", result["kernel_cpu_percent_panel_thread"]),
        ("chunk-to-display delay, worst (ms)", result["chunk_to_display_ms_worst"]),
        ("chunk-to-display delay, median (ms)", result["chunk_to_display_ms_p50"]),
        ("chunks lost", result["chunks_lost"]),
        ("final rendering holds every chunk", result["final_rendering_complete"]),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    lines.append(
        "targets: "
        + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in result["targets_met"].items())
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=2_000.0)
    parser.add_argument("--batch", type=int, default=10,
                        help="chunks per delivery (driven source only)")
    parser.add_argument("--source", choices=("local", "driven"), default="local")
    parser.add_argument("--kind", choices=("text", "json"), default="text")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = run(args.chunks, args.rate, args.batch, args.kind, args.source)
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    existing = {}
    if args.out.exists():
        try:
            existing = json.loads(args.out.read_text())
        except ValueError:
            existing = {}
    existing[f"{args.kind}-{args.source}"] = result
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
