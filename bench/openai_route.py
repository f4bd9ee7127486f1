"""The local endpoint's OpenAI-compatible route, driven by the official ``openai`` client.

The ``llm`` example (no token delay) is served by ``rp-jupyter serve`` in its own process.
Measured, sequentially from one client:

- a chat completion without streaming, beside the same job through ``/runsync``
  (the native input): latency and requests per second, so the route's own cost shows;
- a streamed chat completion: time to the first content chunk and to the end;
- a long streamed reply (about 200 tokens): time per relayed token.

Run: ``.venv/bin/python bench/openai_route.py [--requests 100]``.  Prints a table and writes
``bench/results/openai_route.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import format_table, start_llm_server, write_result

MESSAGES = [{"role": "user", "content": "Tell me about rivers"}]
MODEL = "rp-jupyter/fake-llm"
FAST = {"token_delay": 0}


def timed(fn: Any, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> dict[str, float]:
    return {"median_ms": statistics.median(times) * 1000,
            "p90_ms": sorted(times)[int(len(times) * 0.9) - 1] * 1000,
            "per_s": len(times) / sum(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="requests per measurement")
    args = parser.parse_args()
    proc, base_url = start_llm_server()
    url = f"{base_url}/local"
    results: dict[str, Any] = {}
    try:
        client = openai.OpenAI(base_url=f"{url}/openai/v1", api_key="unused", max_retries=0)
        http = httpx.Client(timeout=60)
        warm = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=16,
                                              extra_body=FAST)
        assert warm.usage.completion_tokens == 16

        def chat() -> None:
            client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=16,
                                           extra_body=FAST)

        def runsync() -> None:
            doc = http.post(f"{url}/runsync", json={"input": {
                "messages": MESSAGES, "sampling_params": {"max_tokens": 16}, **FAST}}).json()
            assert doc["status"] == "COMPLETED"

        results["chat, not streamed (openai client)"] = summary(timed(chat, args.requests))
        results["same job via /runsync (httpx)"] = summary(timed(runsync, args.requests))

        first_tokens, totals = [], []
        for _ in range(args.requests):
            started = time.perf_counter()
            stream = client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                                    max_tokens=16, stream=True,
                                                    extra_body=FAST)
            first = None
            for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - started
            first_tokens.append(first or 0.0)
            totals.append(time.perf_counter() - started)
        results["chat, streamed: first token"] = summary(first_tokens)
        results["chat, streamed: whole reply"] = summary(totals)

        per_token = []
        for seed in range(max(5, args.requests // 10)):
            started = time.perf_counter()
            tokens = sum(1 for c in client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=200, seed=seed, stream=True,
                extra_body={**FAST, "temperature": 1.0}) if c.choices and
                c.choices[0].delta.content)
            per_token.append((time.perf_counter() - started) / max(1, tokens))
        results["long stream: per token"] = summary(per_token)
    finally:
        proc.terminate()
        proc.wait(30)
    rows = [[name, r["median_ms"], r["p90_ms"], r["per_s"]] for name, r in results.items()]
    print(f"OpenAI route, llm example without token delay, {args.requests} requests each "
          f"(one client, sequential)")
    print(format_table(["measurement", "median ms", "p90 ms", "per s"], rows))
    path = write_result("openai_route", {"requests": args.requests, "results": results,
                                         "cpus": os.cpu_count()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
