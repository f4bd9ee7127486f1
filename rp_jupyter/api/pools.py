"""Connection pools that stay cheap with a thousand jobs in flight.

httpcore's pool walks all of its connections on every request and, for each idle one,
counts them all again; with hundreds of connections that costs milliseconds of CPU per
request, and once the pool holds more connections than its keep-alive count it closes
every connection that goes idle.  So the client keeps several small pools instead of one
big one, and lets a request into a pool only when the pool has a connection free for it
(the others wait here instead of in httpcore's queue, which is as costly to walk).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

__all__ = ["PoolSet"]


class PoolSet:
    """Up to ``shards`` httpx clients of ``size`` connections each, made on first need.

    A request goes to the busiest client that still has a free connection, so a light
    load keeps reusing a few warm connections.

    Example::

        pools = PoolSet(lambda size: httpx.AsyncClient(...), shards=8, size=16)
        async with pools.client() as http:
            response = await http.get(url)
    """

    def __init__(
        self, make: Callable[[int], httpx.AsyncClient], *, shards: int, size: int
    ) -> None:
        self._make = make
        self._size = size
        self._clients: list[httpx.AsyncClient | None] = [None] * shards
        self._free = [size] * shards
        self._slots = asyncio.Semaphore(shards * size)

    @property
    def capacity(self) -> int:
        """How many requests may be in flight at once."""
        return len(self._clients) * self._size

    @property
    def in_flight(self) -> int:
        return self.capacity - sum(self._free)

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """A client with a connection free for one request (waits for one if need be)."""
        await self._slots.acquire()
        _, index = min((free, i) for i, free in enumerate(self._free) if free > 0)
        self._free[index] -= 1
        try:
            client = self._clients[index]
            if client is None:
                client = self._clients[index] = self._make(self._size)
            yield client
        finally:
            self._free[index] += 1
            self._slots.release()

    async def aclose(self) -> None:
        for client in self._clients:
            if client is not None:
                await client.aclose()
