"""The handler behind ``bench/ui_stream.py --source local``: ``chunks`` chunks at ``rate``
per second, numbered so the benchmark can tell which one a front-end message shows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any


def handler(job: dict[str, Any]) -> Iterator[Any]:
    data = job["input"]
    count, rate, kind = int(data["chunks"]), float(data["rate"]), data.get("kind", "text")
    start = time.monotonic()
    for i in range(count):
        due = start + i / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if kind == "text":
            yield f"w{i} "
        else:
            yield {"chunk": i, "progress": (i + 1) / count, "text": f"item {i}"}
