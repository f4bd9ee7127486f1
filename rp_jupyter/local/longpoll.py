"""Long-poll helpers: wait for a condition on a job without missing a client's hang-up.

A request that waits watches its ASGI ``receive`` channel for ``http.disconnect``, so an
abandoned long-poll stops waiting and never consumes chunks it cannot deliver.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rp_jupyter.local.flags import Flag
from rp_jupyter.local.server_job import ServerJob


class DisconnectWatch:
    """Sets :attr:`gone` when the client hangs up.  Start it only after the body is read."""

    def __init__(self, receive: Callable[[], Any]) -> None:
        self.gone = Flag()
        self._task = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Callable[[], Any]) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                return

    def close(self) -> None:
        self._task.cancel()


async def wait_first(*flags: Flag, timeout: float) -> None:
    """Return when any flag is set or ``timeout`` seconds have passed."""
    if timeout <= 0 or any(f.is_set() for f in flags):
        return
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()
    timer = loop.call_later(timeout, _wake, woken)
    for flag in flags:
        flag.join(woken)
    try:
        await woken
    finally:
        timer.cancel()
        for flag in flags:
            flag.leave(woken)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_until(job: ServerJob, ready: Callable[[], bool], timeout: float,
                     *stop: Flag) -> bool:
    """Wait until ``ready()`` holds (re-checked on every change of ``job``), ``timeout``
    runs out or a ``stop`` event is set; returns ``ready()``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ready():
        remaining = deadline - loop.time()
        if remaining <= 0 or any(e.is_set() for e in stop):
            return False
        await wait_first(job.changed, *stop, timeout=remaining)
    return True
