"""How long to wait after failures in a row: doubling, capped, with equal jitter (between
half and all of the doubled wait: never at once again, yet many followers spread out)."""

from __future__ import annotations

import random

from rp_jupyter.jobs.tracking_policy import TRACKING_BACKOFF_MAX

__all__ = ["backoff"]


def backoff(failures: int, ceiling: float = TRACKING_BACKOFF_MAX) -> float:
    """Seconds to wait after ``failures`` failures in a row (0.25-0.5 s after the first).

    Example: ``await asyncio.sleep(backoff(3))`` waits 1-2 s.
    """
    top = min(ceiling, 0.5 * 2 ** (max(failures, 1) - 1))
    return random.uniform(top / 2, top)
