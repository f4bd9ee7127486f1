"""Handlers for the engine tests, loaded by the local endpoint's workers by name."""

from __future__ import annotations

import base64
import random
from typing import Any


def blob_output(i: int) -> dict[str, Any]:
    """What :func:`blob` returns for input ``{"i": i}``: binary data, text and a float."""
    data = random.Random(i).randbytes(3000)
    return {"i": i, "data": base64.b64encode(data).decode(), "text": f"ünïcode ✓ {i}",
            "ratio": i / 7}


def blob(job: dict[str, Any]) -> dict[str, Any]:
    return blob_output(int(job["input"]["i"]))


def priced(job: dict[str, Any]) -> dict[str, Any]:
    """Like Runpod's public endpoints: the job's own cost in dollars in its output."""
    return {"image_url": "https://example.com/picture.png", "cost": 0.0024}


def late_text(job: dict[str, Any]) -> dict[str, Any]:
    """Sleeps ``sleep`` seconds, then returns ``size`` characters of text."""
    import time

    time.sleep(float(job["input"].get("sleep", 0)))
    return {"text": "x" * int(job["input"]["size"])}
