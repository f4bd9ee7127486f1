"""What reading real workers' output shapes costs, on the paths that run per chunk or per look.

- SSE: an OpenAI event stream of 20,000 chat.completion.chunk events, cut into pieces at
  pseudo-random positions (1..120 characters, as a relaying worker cuts them), read by
  ``ReplyStream``: MB/s and microseconds per event;
- panel: ``StreamState.feed`` (the live panel's view, which now asks the formats first) per
  chunk, for vLLM token batches, SSE pieces and plain text chunks;
- job.text: ``Job.text`` of a finished vLLM job whose output aggregates 1,000 batches.

Targets: >= 10 MB/s for SSE; <= 50 us per chunk in the panel view (a panel shows ~20 frames
a second, so a 2,000-chunk/s stream costs <= 10 % of one core); job.text <= 50 ms.
Run: ``.venv/bin/python bench/formats.py``; prints a table, writes ``bench/results/formats.json``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import format_table, write_result

EVENTS = 20_000
PANEL_CHUNKS = 20_000
BATCHES = 1_000


def sse_body(events: int) -> str:
    word = {"object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"content": " word"}, "finish_reason": None}]}
    line = f"data: {json.dumps(word)}\n\n"
    return line * events + "data: [DONE]\n\n"


def cut(text: str, seed: int = 1) -> list[str]:
    rng, pieces, start = random.Random(seed), [], 0
    while start < len(text):
        end = min(len(text), start + rng.randint(1, 120))
        pieces.append(text[start:end])
        start = end
    return pieces


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_sse() -> dict[str, Any]:
    from rp_jupyter.formats import ReplyStream

    body = sse_body(EVENTS)
    pieces = cut(body)
    stream = ReplyStream()
    seconds = timed(lambda: [stream.feed(p) for p in pieces])
    assert stream.reply.text == " word" * EVENTS
    return {"pieces": len(pieces), "mb": len(body) / 1e6, "seconds": seconds,
            "mb_per_s": len(body) / 1e6 / seconds, "us_per_event": seconds / EVENTS * 1e6}


def bench_panel(kind: str) -> dict[str, Any]:
    from rp_jupyter.notebook.stream_state import StreamState

    if kind == "vllm batches":
        chunks = [{"choices": [{"tokens": [" w"] * 3}], "usage": {"input": 5, "output": 3 * i}}
                  for i in range(PANEL_CHUNKS)]
    elif kind == "sse pieces":
        chunks = cut(sse_body(PANEL_CHUNKS // 3))[:PANEL_CHUNKS]
    else:
        chunks = [f"w{i} " for i in range(PANEL_CHUNKS)]
    view = StreamState()
    seconds = timed(lambda: view.feed(chunks))
    assert view.text_chars > 0
    return {"chunks": len(chunks), "seconds": seconds,
            "us_per_chunk": seconds / len(chunks) * 1e6}


def bench_job_text() -> dict[str, Any]:
    from rp_jupyter.api.models import JobStatus, StatusDocument
    from rp_jupyter.jobs.job import Job

    batches = [{"choices": [{"tokens": [" w"] * 50}], "usage": {"input": 5, "output": 50 * i}}
               for i in range(1, BATCHES + 1)]
    job = Job(None, job_id="bench", endpoint_id="bench", base_url="http://127.0.0.1:9/v2",
              mode="run", input={}, status=JobStatus.IN_PROGRESS)
    job._add_chunks(batches)
    job._finish(JobStatus.COMPLETED, StatusDocument(id="bench", status=JobStatus.COMPLETED,
                                                    output=batches))
    runs = [timed(lambda: job.text) for _ in range(5)]
    assert job.text == " w" * 50 * BATCHES
    return {"batches": BATCHES, "ms": min(runs) * 1000}


def main() -> None:
    sse = bench_sse()
    panel = {kind: bench_panel(kind) for kind in ("vllm batches", "sse pieces", "plain text")}
    text = bench_job_text()
    rows = [["SSE read (ReplyStream)", f"{sse['pieces']:,} pieces, {sse['mb']:.1f} MB",
             f"{sse['mb_per_s']:.1f} MB/s", f"{sse['us_per_event']:.2f} us/event"]]
    rows += [[f"panel view: {kind}", f"{p['chunks']:,} chunks", f"{p['seconds'] * 1000:.0f} ms",
              f"{p['us_per_chunk']:.2f} us/chunk"] for kind, p in panel.items()]
    rows.append(["job.text", f"{text['batches']:,} vLLM batches", f"{text['ms']:.1f} ms", ""])
    print(format_table(["what", "size", "time", "per item"], rows))
    path = write_result("formats", {"sse": sse, "panel": panel, "job_text": text})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
