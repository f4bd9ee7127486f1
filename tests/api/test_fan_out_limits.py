"""A fan-out at the bound: the local endpoint in its rate-limit mode answers 429 to any
request over its window, and the client's limiter never meets one, from a plain loop or
from ``asyncio.gather``, for ``/run`` and ``/runsync`` alike."""

from __future__ import annotations

import asyncio

import pytest

import rp_jupyter
from rp_jupyter.local import RateLimit as ServerRateLimit
from tests.client_support import start_local, statuses

LIMIT = (12, 0.4, 4)  # 12 per 0.4 s window, 4 at once: a small copy of the documented table
JOBS = 40  # more than three windows' worth


@pytest.fixture
def limited():
    """An echo endpoint enforcing LIMIT on /run and /runsync."""
    server = start_local("echo", workers=2, rate_limits={
        "run": ServerRateLimit(*LIMIT), "runsync": ServerRateLimit(*LIMIT)})
    yield server
    server.stop()


def endpoint(server, limit=LIMIT) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url,
                               rate_limits={"run": limit, "runsync": limit})


def test_the_local_endpoint_answers_429_to_requests_over_its_window(limited):
    """The control: a client that does not hold back does meet 429s (and retries them)."""
    loose = endpoint(limited, (1000, 0.4, 100))

    async def burst():
        return await asyncio.gather(*(loose.arun({"i": i}) for i in range(JOBS)))

    jobs = asyncio.run(burst())
    assert len({job.id for job in jobs}) == JOBS
    codes = statuses(limited, "run")
    assert codes.count(429) > 0
    assert codes.count(200) == JOBS  # every one got through in the end


def test_a_plain_loop_of_run_never_exceeds_the_limit(limited):
    ep = endpoint(limited)
    jobs = [ep.run({"i": i}) for i in range(JOBS)]
    assert [job.result(timeout=30) for job in jobs] == [{"echo": {"i": i}} for i in range(JOBS)]
    assert statuses(limited, "run") == [200] * JOBS


def test_a_gather_of_arun_never_exceeds_the_limit(limited):
    ep = endpoint(limited)

    async def fan_out():
        return await asyncio.gather(*(ep.arun({"i": i}) for i in range(JOBS)))

    jobs = asyncio.run(fan_out())
    assert [job.result(timeout=30) for job in jobs] == [{"echo": {"i": i}} for i in range(JOBS)]
    assert statuses(limited, "run") == [200] * JOBS


def test_a_loop_of_run_sync_never_exceeds_the_limit(limited):
    ep = endpoint(limited)
    outputs = [ep.run_sync({"i": i}).result(timeout=30) for i in range(JOBS)]
    assert outputs == [{"echo": {"i": i}} for i in range(JOBS)]
    assert statuses(limited, "runsync") == [200] * JOBS


def test_two_gathers_one_after_the_other_share_the_window(limited):
    """The second burst starts while the first one's requests still count at the server."""
    ep = endpoint(limited)

    async def fan_out(start):
        return await asyncio.gather(*(ep.arun({"i": i}) for i in range(start, start + 15)))

    first = asyncio.run(fan_out(0))
    second = asyncio.run(fan_out(15))
    assert len({job.id for job in first + second}) == 30
    assert statuses(limited, "run") == [200] * 30
