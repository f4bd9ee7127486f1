"""A flag that long-polls wait on: an :class:`asyncio.Event` that also wakes futures joined
to it, so one wait on several flags (a job's change, the client's hang-up, the server
closing) costs one future rather than a task for each."""

from __future__ import annotations

import asyncio


class Flag(asyncio.Event):
    """An event whose ``set`` also completes every future joined to it."""

    def __init__(self) -> None:
        super().__init__()
        self._joined: list[asyncio.Future[None]] = []

    def set(self) -> None:
        super().set()
        joined, self._joined = self._joined, []
        for future in joined:
            if not future.done():
                future.set_result(None)

    def join(self, future: asyncio.Future[None]) -> None:
        self._joined.append(future)

    def leave(self, future: asyncio.Future[None]) -> None:
        try:
            self._joined.remove(future)
        except ValueError:
            pass
