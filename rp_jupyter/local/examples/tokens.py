"""``tokens``: a stand-in for an LLM that streams the words of a text at a set rate.

Input (all optional):

- ``prompt``: the text whose words are streamed (default: a short built-in text).
- ``rate``: words per second (default 20; up to thousands for tests; 0 = no pauses).
- ``max_tokens``: stop after this many words (default 256).
- ``temperature``: 0 streams the text as is; higher values swap more words for others,
  so parameter sweeps show different outputs.
- ``seed``: picks which words are swapped (default 0); same input, same output.

Each chunk is a string like ``"word "``; joined, the chunks give the reply.

Example: ``{"prompt": "hello there world", "rate": 100}`` yields
``"hello "``, ``"there "``, ``"world "``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

DEFAULT_PROMPT = (
    "Runpod Serverless runs your handler on demand: a request waits in the queue, a "
    "worker picks it up, and the output streams back chunk by chunk until the job is "
    "done. Notebooks make this loop feel immediate, so you can tune a prompt, compare "
    "settings side by side, and keep every result on disk."
)
EXTRA_WORDS = [
    "bright", "quiet", "rapid", "gentle", "curious", "bold", "silver", "golden", "hidden",
    "ancient", "swift", "calm", "river", "mountain", "signal", "engine", "garden", "lantern",
    "harbor", "meadow", "circuit", "thunder", "ember", "wanders", "sings", "drifts", "glows",
    "builds", "listens", "returns", "unfolds",
]


def generate(prompt: str, max_tokens: int, temperature: float, seed: Any) -> list[str]:
    """The words to stream: the prompt's, some swapped according to temperature and seed."""
    words = prompt.split()[: max(0, max_tokens)]
    if temperature <= 0:
        return words
    rng = random.Random(f"{seed}|{temperature}|{prompt}")
    vocabulary = sorted(set(prompt.split())) + EXTRA_WORDS
    share = min(1.0, temperature / 2)
    return [rng.choice(vocabulary) if rng.random() < share else word for word in words]


def handler(job: dict[str, Any]) -> Iterator[str]:
    data = job.get("input") or {}
    prompt = str(data.get("prompt") or DEFAULT_PROMPT)
    rate = float(data.get("rate", 20.0))
    words = generate(prompt, int(data.get("max_tokens", 256)),
                     float(data.get("temperature", 0.0)), data.get("seed", 0))
    interval = 1.0 / rate if rate > 0 else 0.0
    start = time.monotonic()
    for index, word in enumerate(words):
        if interval:
            pause = start + index * interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        yield word + " "
