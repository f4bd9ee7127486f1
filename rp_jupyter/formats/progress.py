"""How far a job has got, from whatever a worker reports.

A worker's ``runpod.serverless.progress_update(job, value)`` may send a number (a fraction
or a percentage), a string (``"45%"``, ``"3/8"`` or a message) or a dict with progress fields
(``progress``, ``percent``, ``step``/``steps``, ``current``/``total``, ``completed``/``total``)
and a ``message``.  Stream chunks carrying such fields move a progress bar as well.

Example::

    read_progress({"step": 3, "steps": 8, "message": "denoising"})
    # Progress(fraction=0.375, label='3/8', message='denoising')
    read_progress("loading the model")
    # Progress(fraction=None, label='loading the model', message='loading the model')
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Progress", "read_progress"]

COUNT_KEYS = (("step", "steps"), ("current", "total"), ("completed", "total"))
FRACTION_KEYS = ("progress", "percent", "percentage")
MESSAGE_KEYS = ("message", "status", "stage", "detail", "description", "msg", "text")
MESSAGE_CHARS = 200
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Progress:
    """``fraction`` in 0..1 when the value says how far (else ``None``), a short ``label``
    (``"3/8"``, ``"45%"``, or the message) and the ``message`` if there was one."""

    fraction: float | None
    label: str
    message: str | None = None

    def describe(self) -> str:
        """``3/8 · denoising``: the label, and the message when it adds something."""
        extra = self.message if self.message and self.message != self.label else None
        return f"{self.label} · {extra}" if extra else self.label


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _from_number(value: float, *, percent: bool = False) -> Progress:
    fraction = _clamp(value / 100 if percent or 1 < value <= 100 else value)
    return Progress(fraction, f"{fraction:.0%}")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + "…"


def _from_dict(value: dict[str, Any]) -> Progress | None:
    message = next((_short(str(value[k])) for k in MESSAGE_KEYS
                    if isinstance(value.get(k), str) and value[k].strip()), None)
    for done_key, total_key in COUNT_KEYS:
        done, total = value.get(done_key), value.get(total_key)
        if _number(done) and _number(total) and total > 0:
            return Progress(_clamp(done / total), f"{done:g}/{total:g}", message)
    for key in FRACTION_KEYS:
        amount = value.get(key)
        if _number(amount):
            found = _from_number(amount, percent=key != "progress")
            return Progress(found.fraction, found.label, message)
        if isinstance(amount, str):
            found = _from_string(amount)
            if found is not None and found.fraction is not None:
                return Progress(found.fraction, found.label, message)
    if message is not None:
        return Progress(None, message, message)
    return None


def _from_string(value: str) -> Progress | None:
    if not value.strip():
        return None
    percent = _PERCENT.match(value)
    if percent:
        return _from_number(float(percent.group(1)), percent=True)
    ratio = _RATIO.match(value)
    if ratio and float(ratio.group(2)) > 0:
        done, total = float(ratio.group(1)), float(ratio.group(2))
        return Progress(_clamp(done / total), f"{done:g}/{total:g}")
    message = _short(value)
    return Progress(None, message, message)


def read_progress(value: Any, *, strict: bool = False) -> Progress | None:
    """What ``value`` says about progress.

    ``strict`` (for stream chunks) accepts only dicts with progress fields; otherwise any
    value is progress, shown as a message when it says nothing about how far.
    """
    if strict:
        return _from_dict(value) if isinstance(value, dict) else None
    if value is None or isinstance(value, bool):
        return None
    if _number(value):
        return _from_number(value)
    if isinstance(value, str):
        return _from_string(value)
    if isinstance(value, dict):
        found = _from_dict(value)
        if found is not None:
            return found
    try:
        text = json.dumps(value, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    return Progress(None, _short(text), _short(text))
