"""Time to first token and per-token overhead of ``%%runpod chat`` and ``Endpoint.chat``,
beside the official ``openai`` client, on the same local endpoint and ``llm`` handler.

``rp-jupyter serve llm`` runs in its own process with the same small per-token delay for
every client (``token_delay``, default 2 ms).  Each client streams the same chat, in turn
(so noise falls on all alike), ``--requests`` times:

- ``openai``: the official client, ``stream=True``; a token is there when its chunk is;
- ``Endpoint.chat``: ``reply.text_stream()``; a token is there when its piece is (it has
  been journaled by then);
- ``%%runpod chat``: a chat cell run in a real IPython shell (plain-terminal mode, which
  prints the reply as it streams); a token is there when it is printed.

Time to first token is from the call (the cell's run) to the first content; per token is
(last token - first token) / (tokens - 1) for one reply.  Overheads are our medians minus
the openai client's.  Targets: first token within 5 ms of the openai client's, median
per-token overhead at most 1 ms.

Run: ``.venv/bin/python bench/chat.py [--requests 30] [--token-delay 0.002]``.  Prints a
table and writes ``bench/results/chat.json``.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, start_llm_server, write_result

MODEL = "rp-jupyter/fake-llm"
QUESTION = "Tell me about rivers"
MAX_TOKENS = 64
TTFT_TARGET_MS = 5.0
PER_TOKEN_TARGET_MS = 1.0


class Timed:
    """When each token of one reply was there."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.times: list[float] = []

    def tokens(self, count: int = 1) -> None:
        now = time.perf_counter()
        self.times.extend([now] * count)

    def figures(self, expected: int) -> tuple[float, float]:
        assert len(self.times) == expected, f"{len(self.times)} tokens, not {expected}"
        first = self.times[0] - self.started
        per_token = (self.times[-1] - self.times[0]) / (len(self.times) - 1)
        return first * 1000, per_token * 1000


def openai_run(base_url: str, delay: float) -> Callable[[], Timed]:
    import openai

    client = openai.OpenAI(base_url=f"{base_url}/local/openai/v1", api_key="unused",
                           max_retries=0)

    def run() -> Timed:
        timed = Timed()
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": QUESTION}],
            max_tokens=MAX_TOKENS, stream=True, extra_body={"token_delay": delay})
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                timed.tokens()
        return timed

    return run


def endpoint_run(base_url: str, delay: float) -> Callable[[], Timed]:
    import rp_jupyter

    endpoint = rp_jupyter.Endpoint("local", base_url=base_url)

    def run() -> Timed:
        timed = Timed()
        reply = endpoint.chat([{"role": "user", "content": QUESTION}], max_tokens=MAX_TOKENS,
                              token_delay=delay)
        for piece in reply.text_stream():
            if piece:
                timed.tokens()
        return timed

    return run


class StampedOutput(io.TextIOBase):
    """stdout for the shell: notes when reply text is printed (not the footer)."""

    def __init__(self) -> None:
        self.timed: Timed | None = None
        self.done = False

    def write(self, text: str) -> int:
        if self.timed is not None and text and not self.done:
            if text.startswith("\n[") or text.startswith("["):
                self.done = True  # the footer: the reply is over
            else:
                self.timed.tokens()
        return len(text)


def magic_run(base_url: str, delay: float) -> Callable[[], Timed]:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryAccessor.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.extension_manager.load_extension("rp_jupyter")
    with io.StringIO() as said, _stdout(said):
        shell.run_cell(f"%runpod endpoint local --base-url {base_url}")
    cell = (f"%%runpod chat --new --max-tokens {MAX_TOKENS} --param token_delay={delay}\n"
            f"{QUESTION};")  # ';': no Out[] line

    def run() -> Timed:
        out = StampedOutput()
        saved = sys.stdout
        sys.stdout = out
        try:
            out.timed = Timed()
            result = shell.run_cell(cell, store_history=True)
        finally:
            sys.stdout = saved
        result.raise_error()
        return out.timed

    return run


class _stdout:
    def __init__(self, out: Any) -> None:
        self.out = out

    def __enter__(self) -> None:
        self.saved, sys.stdout = sys.stdout, self.out

    def __exit__(self, *exc: object) -> None:
        sys.stdout = self.saved


def summary(figures: list[tuple[float, float]]) -> dict[str, float]:
    firsts = sorted(f for f, _ in figures)
    per_token = sorted(p for _, p in figures)
    return {"ttft_median_ms": statistics.median(firsts),
            "ttft_p90_ms": firsts[int(len(firsts) * 0.9) - 1],
            "per_token_median_ms": statistics.median(per_token),
            "per_token_p90_ms": per_token[int(len(per_token) * 0.9) - 1]}


def _shown(value: float) -> str:
    """A signed difference with two decimals (no "-0.00")."""
    return f"{round(value, 2) + 0.0:+.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="replies per client")
    parser.add_argument("--token-delay", type=float, default=0.002,
                        help="seconds per token in the llm handler (default 0.002)")
    args = parser.parse_args()
    os.environ["RP_JUPYTER_HOME"] = tempfile.mkdtemp(prefix="rp-chat-bench-")
    proc, base_url = start_llm_server()
    clients: dict[str, Callable[[], Timed]] = {}
    figures: dict[str, list[tuple[float, float]]] = {}
    try:
        clients = {"openai client": openai_run(base_url, args.token_delay),
                   "Endpoint.chat": endpoint_run(base_url, args.token_delay),
                   "%%runpod chat (IPython)": magic_run(base_url, args.token_delay)}
        for run in clients.values():  # warm up: connections, imports, the first job
            for _ in range(3):
                run().figures(MAX_TOKENS)
        figures = {name: [] for name in clients}
        for _ in range(args.requests):
            for name, run in clients.items():
                figures[name].append(run().figures(MAX_TOKENS))
    finally:
        proc.terminate()
        proc.wait(30)
    results = {name: summary(found) for name, found in figures.items()}
    base = results["openai client"]
    rows = []
    for name, found in results.items():
        found["ttft_overhead_ms"] = found["ttft_median_ms"] - base["ttft_median_ms"]
        found["per_token_overhead_ms"] = (found["per_token_median_ms"]
                                          - base["per_token_median_ms"])
        rows.append([name, found["ttft_median_ms"], found["ttft_p90_ms"],
                     _shown(found["ttft_overhead_ms"]), found["per_token_median_ms"],
                     _shown(found["per_token_overhead_ms"])])
    ours = [r for name, r in results.items() if name != "openai client"]
    met = {"ttft_within_5ms": all(r["ttft_overhead_ms"] <= TTFT_TARGET_MS for r in ours),
           "per_token_overhead_at_most_1ms": all(
               r["per_token_overhead_ms"] <= PER_TOKEN_TARGET_MS for r in ours)}
    print(f"Chat streaming, llm handler, {MAX_TOKENS} tokens a reply, token delay "
          f"{args.token_delay * 1000:g} ms, {args.requests} replies per client (interleaved)")
    print(format_table(["client", "first token ms", "p90 ms", "vs openai ms",
                        "per token ms", "vs openai ms"], rows))
    print(f"targets: first token within {TTFT_TARGET_MS:g} ms of openai: "
          f"{'met' if met['ttft_within_5ms'] else 'MISSED'}; per-token overhead at most "
          f"{PER_TOKEN_TARGET_MS:g} ms: "
          f"{'met' if met['per_token_overhead_at_most_1ms'] else 'MISSED'}")
    path = write_result("chat", {"requests": args.requests, "token_delay": args.token_delay,
                                 "max_tokens": MAX_TOKENS, "results": results, "targets": met,
                                 "cpus": os.cpu_count()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
