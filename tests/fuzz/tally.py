"""How many examples each fuzz property tries, and what they saw (for ``bench/fuzz.py``)."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path

COUNTS: defaultdict[str, Counter[str]] = defaultdict(Counter)


def examples(suite: int) -> int:
    """``suite`` examples, times ``RP_JUPYTER_FUZZ_SCALE`` (default 1) for longer runs."""
    return max(1, round(suite * float(os.environ.get("RP_JUPYTER_FUZZ_SCALE", "1"))))


def count(prop: str, **seen: int) -> None:
    """Add to a property's counters: ``count("cells", examples=1, rejected=1)``."""
    COUNTS[prop].update(seen)


def write_tally(path: str | Path) -> None:
    Path(path).write_text(json.dumps({k: dict(v) for k, v in COUNTS.items()}, indent=2))
