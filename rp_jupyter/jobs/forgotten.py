"""Forgotten jobs: one still IN_QUEUE or IN_PROGRESS long after it was sent.

On hosted Runpod such a job keeps a GPU busy and billed until its execution timeout (10
minutes by default, up to 7 days when set).  Past :data:`settings.after <ForgottenSettings>`
seconds (default 10 minutes; ``RunpodMagics.forgotten_after``) its panel and ``%runpod jobs``
say so.

Example::

    from rp_jupyter.jobs.forgotten import forgotten_warning, settings

    settings.after = 120.0                      # warn after two minutes
    forgotten_warning("IN_PROGRESS", time.time() - 300)   # 'still IN_PROGRESS after 5 min ...'
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rp_jupyter.wire_rules import UNFINISHED_STATUSES

__all__ = ["DEFAULT_AFTER", "ForgottenSettings", "forgotten_warning", "settings"]

DEFAULT_AFTER = 600.0


@dataclass
class ForgottenSettings:
    """``after``: seconds from submission after which an unfinished job is called forgotten."""

    after: float = DEFAULT_AFTER


settings = ForgottenSettings()


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def forgotten_warning(status: str, sent_at: float | None, now: float | None = None) -> str | None:
    """A warning for a job still ``status`` since ``sent_at`` (Unix time) past the
    threshold, else ``None``."""
    if str(status) not in UNFINISHED_STATUSES or not sent_at:
        return None
    age = (now or time.time()) - sent_at
    if age < settings.after:
        return None
    return (f"still {status} after {_age(age)}: forgotten? it keeps a worker busy "
            "(and billed) until it ends; cancel it if you no longer need it")
