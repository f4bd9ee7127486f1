"""Fault injection for client-facing requests: off by default.

A share of requests can be answered 429 / 500 / 503, have their connection dropped, or
be delayed; ``script`` makes the next outcomes of one operation deterministic.

Example::

    faults = Faults(status_503=0.1, seed=1)      # about one request in ten gets a 503
    faults.script("run", ["429", "drop_after", "ok"])
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

#: Outcomes a script may name. "drop" closes the connection before the request is
#: processed; "drop_after" processes it (a /run is accepted) and then closes it.
OUTCOMES = ("429", "500", "503", "drop", "drop_after", "ok")

FAULT_FIELDS = ("status_429", "status_500", "status_503", "drop", "latency", "ops", "seed",
                "retry_after")


@dataclass
class Faults:
    """Shares in [0, 1] of client requests that fail, restricted to ``ops`` if given.

    ``latency`` seconds are added to every affected request; ``retry_after`` is the
    ``Retry-After`` value sent with an injected 429 (fractions allowed, e.g. 0.05).
    """

    status_429: float = 0.0
    status_500: float = 0.0
    status_503: float = 0.0
    drop: float = 0.0
    latency: float = 0.0
    ops: list[str] | tuple[str, ...] | set[str] | None = None
    seed: int | None = None
    retry_after: float = 1.0
    _scripts: dict[str, deque[str]] = field(default_factory=dict, init=False, repr=False,
                                            compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False,
                                  compare=False)
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "seed" and "_rng" in self.__dict__:
            self._rng = random.Random(value)

    def script(self, op: str, kinds: list[str] | tuple[str, ...]) -> None:
        """Give the next requests of ``op`` these outcomes, in order (then back to random).

        Example: ``faults.script("status", ["503", "503", "ok"])``.
        """
        bad = [k for k in kinds if str(k) not in OUTCOMES]
        if bad:
            raise ValueError(f"unknown fault kind(s) {bad}; choose from {list(OUTCOMES)}")
        with self._lock:
            self._scripts.setdefault(op, deque()).extend(str(k) for k in kinds)

    def clear(self) -> None:
        """Switch every fault off and forget every script."""
        with self._lock:
            self._scripts.clear()
            self.status_429 = self.status_500 = self.status_503 = self.drop = 0.0
            self.latency = 0.0
            self.ops = None

    def pending(self, op: str) -> list[str]:
        """Scripted outcomes not yet used for ``op``."""
        with self._lock:
            return list(self._scripts.get(op, ()))

    def applies_to(self, op: str) -> bool:
        """Whether the random shares and the latency apply to ``op``."""
        return self.ops is None or op in self.ops

    def idle(self, op: str) -> bool:
        """Whether nothing is set that could touch the next request of ``op``."""
        if self._scripts.get(op):
            return False
        return not self.applies_to(op) or not (
            self.status_429 or self.status_500 or self.status_503 or self.drop
            or self.latency)

    def decide(self, op: str) -> str:
        """The outcome for the next request of ``op``: one of :data:`OUTCOMES`."""
        with self._lock:
            script = self._scripts.get(op)
            if script:
                return script.popleft()
            if not self.applies_to(op):
                return "ok"
            shares = (("429", self.status_429), ("500", self.status_500),
                      ("503", self.status_503), ("drop", self.drop))
            if not any(share > 0 for _, share in shares):
                return "ok"
            roll = self._rng.random()
        for kind, share in shares:
            if roll < share:
                return kind
            roll -= share
        return "ok"

    def update(self, data: dict[str, Any]) -> None:
        """Apply a JSON object of fields, plus ``script: {op: [kinds]}`` and ``clear: true``."""
        if data.get("clear"):
            self.clear()
        for name in FAULT_FIELDS:
            if name in data:
                setattr(self, name, data[name])
        for op, kinds in (data.get("script") or {}).items():
            self.script(op, kinds)

    def to_dict(self) -> dict[str, Any]:
        """The fields and pending scripts as JSON-friendly data."""
        out = {name: getattr(self, name) for name in FAULT_FIELDS}
        if out["ops"] is not None:
            out["ops"] = sorted(out["ops"])
        with self._lock:
            out["script"] = {op: list(q) for op, q in self._scripts.items() if q}
        return out
