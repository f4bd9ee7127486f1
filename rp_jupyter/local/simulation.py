"""Simulated worker states, for tests and teaching: why a job waits on hosted Runpod.

Each state shows in ``/health`` as it does there, and jobs wait in the queue meanwhile:

- a cold start: ``cold_start`` seconds each worker spends initializing;
- no GPU capacity: ``throttled`` of the endpoint's ``workers`` are throttled, waiting for a
  GPU that never frees up;
- a crash-looping worker: ``unhealthy`` of them are unhealthy;
- zero max workers: ``workers=0``, no worker runs or starts.

Throttled and unhealthy workers are counted out of ``workers`` and take no job; the rest are
real worker processes.  Every value can be changed on a running endpoint (the next
reconcile, a fraction of a second later, spawns or retires workers to match).

Example::

    from rp_jupyter.local import LocalEndpoint

    with LocalEndpoint("echo", throttled=1) as ep:     # its one worker never gets a GPU
        ep.health()["workers"]["throttled"]            # 1
        simulate(ep.settings, throttled=0)             # a GPU frees up: a worker starts
"""

from __future__ import annotations

from typing import Any

__all__ = ["STATES", "describe", "real_workers", "simulate", "simulated_counts"]

STATES = ("cold_start", "throttled", "unhealthy", "workers")


def simulated_counts(settings: Any) -> dict[str, int]:
    """How many of the endpoint's workers are simulated as throttled and as unhealthy."""
    throttled = min(settings.throttled, settings.workers)
    unhealthy = min(settings.unhealthy, settings.workers - throttled)
    return {"throttled": throttled, "unhealthy": unhealthy}


def real_workers(settings: Any) -> int:
    """How many worker processes the endpoint runs: its workers less the simulated ones."""
    return settings.workers - sum(simulated_counts(settings).values())


def simulate(settings: Any, **states: Any) -> Any:
    """Change the simulated states (``cold_start`` seconds, ``throttled``, ``unhealthy``,
    ``workers``) of an endpoint's settings, live; ``None`` leaves one as it is."""
    unknown = set(states) - set(STATES)
    if unknown:
        raise TypeError(f"unknown state(s): {', '.join(sorted(unknown))}; "
                        f"use {', '.join(STATES)}")
    for name, value in states.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, not {value!r}")
        if name != "cold_start" and int(value) != value:
            raise ValueError(f"{name} must be a whole number, not {value!r}")
        setattr(settings, name, float(value) if name == "cold_start" else int(value))
    return settings


def describe(settings: Any) -> str:
    """The simulated states in force, in words (``""`` when none is)."""
    counts = simulated_counts(settings)
    said = []
    if settings.workers == 0:
        said.append("no workers allowed (max workers 0)")
    if counts["throttled"]:
        said.append(f"{counts['throttled']} throttled (no GPU capacity)")
    if counts["unhealthy"]:
        said.append(f"{counts['unhealthy']} unhealthy (crash-looping)")
    if settings.cold_start:
        said.append(f"a cold start of {settings.cold_start:g} s per worker")
    return ", ".join(said)
