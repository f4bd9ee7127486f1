"""Why a job waits: each state read from /health, on local endpoints that simulate it, with
one /health poll per endpoint shared by every job that asks."""

from __future__ import annotations

import time

import pytest

import rp_jupyter
from rp_jupyter.api.models import Health
from rp_jupyter.jobs import health_watch
from rp_jupyter.jobs.health_watch import describe_wait, wait_reason, watch_for
from tests.client_support import CHAOS_PLAIN, start_local, wait_for


@pytest.mark.parametrize(("workers", "queued", "place", "expected"), [
    ({"idle": 1, "ready": 1}, 1, 1, "waiting: 1 worker free, it should start any moment"),
    ({"initializing": 2}, 1, 1, "waiting: 2 workers initializing (a cold start)"),
    ({"running": 1}, 3, 2, "waiting: the only worker is busy (2nd of 3 in the queue)"),
    ({"running": 2}, 5, 3, "waiting: all 2 workers are busy (3rd of 5 in the queue)"),
    ({"throttled": 1}, 1, 1,
     "waiting: no GPU capacity (1 worker throttled): it starts when a GPU frees up"),
    ({"unhealthy": 1}, 1, 1,
     "waiting: 1 worker unhealthy (crash-looping: look at the worker's logs)"),
    ({}, 1, 1, "waiting: no workers are running or starting, and none are allowed "
               "(is the endpoint's max workers 0?)"),
    ({"running": 1, "throttled": 2}, 2, 2,
     "waiting: the only worker is busy (2nd of 2 in the queue); no GPU capacity (2 workers "
     "throttled): it starts when a GPU frees up"),
])
def test_each_health_reading_says_why_a_job_waits(workers, queued, place, expected):
    health = Health.parse({"workers": workers, "jobs": {"inQueue": queued}})
    assert describe_wait(health, place) == expected


STATES = {
    "cold": ({"cold_start": 60}, "1 worker initializing (a cold start)"),
    "throttled": ({"throttled": 1}, "no GPU capacity (1 worker throttled)"),
    "crashy": ({"unhealthy": 1}, "1 worker unhealthy (crash-looping: look at the worker's logs)"),
    "off": ({"workers": 0}, "no workers are running or starting, and none are allowed"),
}


@pytest.mark.parametrize("state", list(STATES))
def test_a_local_endpoint_simulating_a_state_gives_its_reason(state):
    settings, expected = STATES[state]
    server = start_local("echo", endpoint_id=state, **settings) if state != "cold" else (
        _started_cold(settings))
    try:
        job = rp_jupyter.Endpoint(state, base_url=server.base_url).run({"x": 1})
        reason = rp_jupyter.why_waiting(job)
        assert expected in reason and job.status == "IN_QUEUE"
        job.cancel()
        assert rp_jupyter.why_waiting(job) is None  # it no longer waits
    finally:
        server.stop()


def _started_cold(settings):
    from rp_jupyter.local import LocalEndpoint

    return LocalEndpoint("echo", endpoint_id="cold", **settings).start()


def test_all_workers_busy_gives_the_jobs_place_in_the_queue():
    server = start_local(CHAOS_PLAIN, endpoint_id="busy", workers=1)
    try:
        endpoint = rp_jupyter.Endpoint("busy", base_url=server.base_url)
        running = endpoint.run({"sleep": 60})
        wait_for(lambda: server.health()["workers"]["running"] == 1, 20, "the worker to be busy")
        first, second = endpoint.run({}), endpoint.run({})
        assert rp_jupyter.why_waiting(first) == (
            "waiting: the only worker is busy (1st of 2 in the queue)")
        assert rp_jupyter.why_waiting(second) == (
            "waiting: the only worker is busy (2nd of 2 in the queue)")
        for job in (second, first, running):
            job.cancel()
    finally:
        server.stop()


def test_one_health_poll_per_endpoint_is_shared_and_stops_when_nothing_waits(monkeypatch):
    monkeypatch.setattr(health_watch, "POLL_EVERY", 0.3)
    server = start_local("echo", endpoint_id="shared", throttled=1)
    try:
        endpoint = rp_jupyter.Endpoint("shared", base_url=server.base_url)
        jobs = [endpoint.run({"i": i}) for i in range(3)]
        server.reset_stats()
        started = time.monotonic()
        watch = watch_for(jobs[0])
        assert all(watch_for(job) is watch for job in jobs)
        reasons = wait_for(lambda: all(wait_reason(job) for job in jobs) and
                           [wait_reason(job) for job in jobs], 10, "every job's reason")
        assert all("no GPU capacity" in reason for reason in reasons)
        wait_for(lambda: [wait_reason(job) for job in jobs] and watch.polls >= 4, 10,
                 "a few polls")
        # each poll is one /health request, whatever the number of jobs asking (one more
        # may be on its way while we look)
        taken = watch.polls
        requests = server.request_count("health")
        assert taken <= requests <= watch.polls + 1
        assert watch.polls <= (time.monotonic() - started) / 0.3 + 1  # at most every 0.3 s
        for job in jobs:
            job.cancel()
        wait_for(lambda: watch._task is None, 5, "the poller to stop once nothing waits")
        polls = server.request_count("health")
        assert wait_reason(jobs[0]) is None and server.request_count("health") == polls
    finally:
        server.stop()
