"""The client-side limiter keeps a fan-out under the server's limits: no 429 is ever met."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import rp_jupyter
from rp_jupyter.api.client_policy import CLIENT_RATE_LIMITS
from rp_jupyter.api.limiter import OperationLimiter
from rp_jupyter.local import RateLimit as ServerRateLimit
from rp_jupyter.wire_rules import DOCUMENTED_RATE_LIMITS, RateLimit
from tests.client_support import start_local, statuses


def test_the_documented_table_is_the_default():
    assert DOCUMENTED_RATE_LIMITS["run"] == RateLimit(1000, 10.0, 200)
    assert DOCUMENTED_RATE_LIMITS["runsync"] == RateLimit(2000, 10.0, 400)
    assert (DOCUMENTED_RATE_LIMITS["status"] == DOCUMENTED_RATE_LIMITS["stream"]
            == RateLimit(2000, 10.0, 400))
    assert DOCUMENTED_RATE_LIMITS["cancel"] == RateLimit(100, 10.0, 20)
    assert DOCUMENTED_RATE_LIMITS["purge-queue"].requests == 2
    assert "retry" not in DOCUMENTED_RATE_LIMITS and "health" not in DOCUMENTED_RATE_LIMITS


def test_the_client_holds_retry_and_health_to_the_cancel_and_status_figures():
    assert CLIENT_RATE_LIMITS["retry"] == DOCUMENTED_RATE_LIMITS["cancel"]
    assert CLIENT_RATE_LIMITS["health"] == DOCUMENTED_RATE_LIMITS["status"]
    for op in ("run", "runsync", "status", "stream", "cancel", "purge-queue", "openai"):
        assert CLIENT_RATE_LIMITS[op] == DOCUMENTED_RATE_LIMITS[op]
    assert ServerRateLimit is RateLimit  # one type on both sides of the wire


def test_no_more_than_the_rate_starts_in_one_window():
    async def scenario() -> list[float]:
        limiter = OperationLimiter(RateLimit(5, 0.3))
        starts: list[float] = []

        async def one() -> None:
            async with limiter.slot():
                starts.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(12)))
        return starts

    starts = asyncio.run(scenario())
    assert len(starts) == 12
    for i in range(len(starts) - 5):
        assert starts[i + 5] - starts[i] >= 0.3  # any 6 consecutive span a whole window
    assert starts[-1] - starts[0] < 0.3 * 2 + 0.3  # but no slower than the rate needs


def test_a_request_counts_until_one_window_after_its_answer():
    """The server counts a request when it arrives, which may be as late as the answer."""
    async def scenario() -> float:
        limiter = OperationLimiter(RateLimit(1, 0.2))
        await limiter.acquire()
        await asyncio.sleep(0.3)  # a slow request: it arrives late, so it counts late
        limiter.release()
        released = time.monotonic()
        await limiter.acquire()
        limiter.release()
        return time.monotonic() - released

    assert asyncio.run(scenario()) >= 0.2


def test_concurrency_is_capped_and_freed_on_release():
    async def scenario() -> int:
        limiter = OperationLimiter(RateLimit(1000, 1.0, 3))
        peak = 0

        async def one() -> None:
            nonlocal peak
            async with limiter.slot():
                peak = max(peak, limiter.in_flight)
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one() for _ in range(20)))
        assert limiter.in_flight == 0
        return peak

    assert asyncio.run(scenario()) == 3


def test_waiters_are_served_by_priority_then_arrival():
    async def scenario() -> list[str]:
        limiter = OperationLimiter(RateLimit(100, 1.0, 1))
        order: list[str] = []
        await limiter.acquire()  # hold the only slot while the others queue

        async def one(name: str, priority: float) -> None:
            async with limiter.slot(priority):
                order.append(name)

        tasks = [asyncio.create_task(one(n, p))
                 for n, p in [("late", 9.0), ("urgent", 1.0), ("mid-a", 5.0), ("mid-b", 5.0)]]
        await asyncio.sleep(0)
        limiter.release()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == ["urgent", "mid-a", "mid-b", "late"]


def test_a_cancelled_waiter_gives_its_place_back():
    async def scenario() -> int:
        limiter = OperationLimiter(RateLimit(100, 1.0, 1))
        await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        limiter.release()
        await asyncio.gather(waiter, return_exceptions=True)
        await asyncio.wait_for(limiter.acquire(), 1.0)  # the slot is free again
        return limiter.in_flight

    assert asyncio.run(scenario()) == 1


def test_a_fan_out_from_many_threads_never_meets_a_429():
    limit = (12, 0.5, 4)
    server = start_local("echo", workers=2, rate_limits={"run": ServerRateLimit(*limit)})
    try:
        ep = rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url,
                                 rate_limits={"run": limit})
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            jobs = list(pool.map(lambda i: ep.run({"i": i}), range(36)))
        elapsed = time.monotonic() - started
        assert [job.result(timeout=30) for job in jobs] == [{"echo": {"i": i}}
                                                            for i in range(36)]
        assert statuses(server, "run") == [200] * 36
        assert elapsed >= 1.0  # 36 at 12 per 0.5 s: the third dozen waits two windows
    finally:
        server.stop()
