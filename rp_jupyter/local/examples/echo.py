"""``echo``: the simplest handler.  It returns ``{"echo": <the job's input>}``.

Example: input ``{"x": 1}`` -> output ``{"echo": {"x": 1}}``.
"""

from __future__ import annotations

from typing import Any


def handler(job: dict[str, Any]) -> dict[str, Any]:
    return {"echo": job["input"]}
