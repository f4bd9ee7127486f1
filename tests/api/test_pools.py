"""The client's connection pools stay small: requests beyond their connections wait."""

from __future__ import annotations

import asyncio

import httpx

from rp_jupyter.api.pools import PoolSet


def test_requests_fill_the_busiest_pool_first_and_wait_when_all_are_full():
    made: list[httpx.AsyncClient] = []

    def make(size: int) -> httpx.AsyncClient:
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=size))
        made.append(client)
        return client

    async def scenario() -> tuple[list[int], int, bool]:
        pools = PoolSet(make, shards=3, size=2)
        release = asyncio.Event()
        used: list[int] = []

        async def hold() -> None:
            async with pools.client() as client:
                used.append(made.index(client))
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(6)]
        await asyncio.sleep(0)
        assert pools.in_flight == pools.capacity == 6
        late = asyncio.create_task(hold())
        await asyncio.sleep(0.01)
        waited = not late.done() and len(used) == 6  # the seventh waits for a connection
        release.set()
        await asyncio.gather(*holders, late)
        in_flight = pools.in_flight
        await pools.aclose()
        return used, in_flight, waited

    used, in_flight, waited = asyncio.run(scenario())
    assert used[:6] == [0, 0, 1, 1, 2, 2] and len(made) == 3
    assert waited and in_flight == 0


def test_a_light_load_makes_a_single_client():
    made: list[int] = []

    async def scenario() -> None:
        pools = PoolSet(lambda size: made.append(size) or httpx.AsyncClient(), shards=8, size=4)
        for _ in range(20):
            async with pools.client():
                pass
        await pools.aclose()

    asyncio.run(scenario())
    assert made == [4]
