"""The journal at scale: 100,000 jobs and 1,000,000 stream chunks.

The journal is built fast with ``executemany`` into its real schema (a :class:`JobJournal`
creates the file and its migrations): jobs over 30 days on four endpoints, each with its
status events; 80,000 with a stored output, 20,000 streamed (50 text chunks each, the
newest, so the listing's rows are streamed ones); a few still running.  Then, each the median of
20 runs after one warm-up:

- ``%runpod jobs`` in a real IPython shell (terminal mode: the text table), as typed,
  and with ``--endpoint``, ``--status``, ``--last`` and ``--limit 500``;
- the journal query alone (``JobJournal.list``, 50 rows), and ``%runpod jobs`` over
  streamed rows journaled before their preview was kept (the listing reads their chunks);
- a cache hit: ``Endpoint.run(..., cache="use")`` answered from the journal, and the
  same ``%%runpod run --cache use`` cell run again in the shell;
- bytes on disk per chunk (SQLite's ``dbstat`` of the chunks table and its share of
  the file).

Targets: ``%runpod jobs`` <= 100 ms, a cache hit <= 5 ms.  Run:
``.venv/bin/python bench/journal_scale.py [--jobs 100000] [--chunks 1000000]``; prints a
table and writes ``bench/results/journal_scale.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import format_table, write_result

BASE_URL = "http://127.0.0.1:9/v2"  # never contacted: every answer comes from the journal
ENDPOINTS = ["llm-chat", "sdxl", "whisper", "embed"]
CHUNKS_PER_STREAM = 50
DAYS = 30
REPEATS = 20
BATCH = 10_000


def build(path: Path, jobs: int, chunks: int) -> dict[str, Any]:
    """Fill a fresh journal at ``path``; returns what went in and how long it took."""
    from rp_jupyter import formats
    from rp_jupyter.api.request import build_request
    from rp_jupyter.jobs.journal import JobJournal

    stream = [f"word{seq} " for seq in range(CHUNKS_PER_STREAM)]  # a text stream's chunks
    stream_json = [json.dumps(chunk) for chunk in stream]
    stream_preview = formats.stream_preview(stream)  # what the journal keeps for a listing
    JobJournal(path).close()  # the schema, by the journal's own migrations
    streamed = chunks // CHUNKS_PER_STREAM
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = time.time()
    step = DAYS * 86400 / jobs
    conn.execute("BEGIN")
    for start in range(0, jobs, BATCH):
        job_rows, events, outputs, chunk_rows = [], [], [], []
        for i in range(start, min(jobs, start + BATCH)):
            request = build_request({"prompt": f"question {i}", "temperature": 0.7})
            created = now - (jobs - i) * step
            endpoint = ENDPOINTS[i % len(ENDPOINTS)]
            is_streamed = i >= jobs - streamed
            running = i >= jobs - 5
            status = ("IN_PROGRESS" if running else "FAILED" if i % 97 == 0
                      else "COMPLETED")
            output = None if is_streamed or status != "COMPLETED" else (
                json.dumps({"text": f"answer {i} " * 4}))
            key = i + 1
            job_rows.append((
                key, f"job-{i:08d}-u1", endpoint, BASE_URL, "run", status, int(not running),
                json.dumps(request.redacted), request.input_hash, request.request_hash,
                created, created + 0.05, created + 0.3, None if running else created + 2.0,
                created + 2.0, 250, None if running else 1700, f"worker-{i % 7}",
                json.dumps("boom") if status == "FAILED" else None, 1,
                CHUNKS_PER_STREAM if is_streamed else 0,
                None if output is None else len(output),
                stream_preview if is_streamed and not running else (output or "")[:240] or None,
                None if running else 0.0012, None if running else "price", "bench.ipynb"))
            events += [(key, created, "SUBMITTING", None), (key, created + 0.05, "IN_QUEUE", None)]
            if not running:
                events.append((key, created + 2.0, status, None))
            if output is not None:
                outputs.append((key, output))
            if is_streamed:
                chunk_rows += [(key, 1, seq, data, created + 0.3 + seq * 0.02)
                               for seq, data in enumerate(stream_json)]
        conn.executemany(
            "INSERT INTO jobs (key, job_id, endpoint_id, base_url, mode, status, final, "
            "request, input_hash, request_hash, created_at, submitted_at, started_at, "
            "finished_at, updated_at, delay_ms, execution_ms, worker_id, error, attempt, "
            "chunk_count, output_bytes, output_preview, cost, cost_source, origin) "
            f"VALUES ({', '.join('?' * 26)})", job_rows)
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", events)
        conn.executemany("INSERT INTO outputs VALUES (?, ?)", outputs)
        conn.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?)", chunk_rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    built = time.perf_counter() - started
    sizes = dict(conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    in_chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    conn.close()
    chunk_bytes = sizes.get("chunks", 0)
    return {"jobs": jobs, "chunks": in_chunks, "streamed_jobs": streamed, "build_s": built,
            "file_mb": path.stat().st_size / 1e6, "chunks_table_mb": chunk_bytes / 1e6,
            "bytes_per_chunk": chunk_bytes / max(1, in_chunks),
            "bytes_per_chunk_file": path.stat().st_size / max(1, in_chunks)}


def timed(call: Callable[[], Any], repeats: int = REPEATS) -> dict[str, float]:
    first_started = time.perf_counter()
    call()
    first = time.perf_counter() - first_started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return {"first_ms": first * 1e3, "median_ms": statistics.median(times) * 1e3,
            "max_ms": max(times) * 1e3}


def quietly(call: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with contextlib.redirect_stdout(io.StringIO()):
            return call()
    return run


def measure(jobs: int, streamed: int) -> dict[str, Any]:
    from IPython.core.interactiveshell import InteractiveShell

    import rp_jupyter
    from rp_jupyter.jobs.journal import JobJournal

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "rp_jupyter")
    journal = JobJournal.open()
    listing = {
        "%runpod jobs": "jobs",
        "%runpod jobs --endpoint sdxl": "jobs --endpoint sdxl",
        "%runpod jobs --status FAILED": "jobs --status FAILED",
        "%runpod jobs --last 1h": "jobs --last 1h",
        "%runpod jobs --limit 500": "jobs --limit 500",
    }
    results: dict[str, Any] = {
        name: timed(quietly(lambda line=line: shell.run_line_magic("runpod", line)))
        for name, line in listing.items()}
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        shell.run_line_magic("runpod", "jobs")
    results["rows shown"] = shown.getvalue().count("job-")
    results["JobJournal.list(limit=50)"] = timed(lambda: journal.list(limit=50))
    # rows journaled before streams' previews were kept: the listing reads their chunks
    journal.write(lambda conn: conn.execute(
        "UPDATE jobs SET output_preview = '[]' WHERE chunk_count > 0 AND final = 1")).result()
    results["%runpod jobs, streamed rows without a kept preview"] = timed(
        quietly(lambda: shell.run_line_magic("runpod", "jobs")))

    ep = rp_jupyter.Endpoint(ENDPOINTS[1], base_url=BASE_URL, api_key="not-used")
    asked = next(i for i in range(jobs - streamed - 1000, 0, -1)  # an sdxl job with an output
                 if i % len(ENDPOINTS) == 1 and i % 97)
    expected = {"text": f"answer {asked} " * 4}

    def hit() -> None:
        job = ep.run({"prompt": f"question {asked}", "temperature": 0.7}, cache="use")
        assert job.cached and job.result() == expected

    results["cache hit: Endpoint.run(cache='use')"] = timed(hit)
    shell.run_cell("import rp_jupyter")
    cell = f'{{"prompt": "question {asked}", "temperature": 0.7}}'
    line = f"run {ENDPOINTS[1]} --base-url {BASE_URL} --cache use"
    results["cache hit: %%runpod run --cache use cell again"] = timed(
        quietly(lambda: shell.run_cell_magic("runpod", line, cell)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--chunks", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rp-journal-scale-") as folder:
        home = Path(folder) / "home"
        os.environ["RP_JUPYTER_HOME"] = str(home)
        os.environ.setdefault("RUNPOD_API_KEY", "not-used")
        from rp_jupyter.jobs.journal import default_journal_path

        path = default_journal_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        built = build(path, args.jobs, args.chunks)
        timings = measure(args.jobs, built["streamed_jobs"])
    rows = [[f"journal built ({built['jobs']:,} jobs, {built['chunks']:,} chunks)",
             built["build_s"], "", "s", "", ""],
            ["file size", built["file_mb"], "", "MB", "", ""],
            ["bytes on disk per chunk (chunks table)", built["bytes_per_chunk"], "", "B", "", ""],
            ["file bytes per chunk (whole journal)", built["bytes_per_chunk_file"], "", "B", "",
             ""]]
    for name, t in timings.items():
        if not isinstance(t, dict):
            continue
        target = 5 if name.startswith("cache hit") else 100 if name.startswith("%runpod") else None
        rows.append([name, t["median_ms"], t["first_ms"], "ms", "" if target is None else
                     f"<= {target}", "" if target is None else
                     ("yes" if t["median_ms"] <= target else "NO")])
    print(format_table(["measure", "median", "first", "unit", "target", "met"], rows))
    print(f"\n%runpod jobs showed {timings['rows shown']} rows")
    path = write_result("journal_scale", {"built": built, "timings": timings})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
