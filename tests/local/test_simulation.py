"""The local endpoint simulates why jobs wait on hosted Runpod: throttled and unhealthy
workers, zero max workers, a cold start; from Python, live, and from ``rp-jupyter serve``."""

from __future__ import annotations

import httpx
import pytest

from rp_jupyter.local import LocalEndpoint
from rp_jupyter.local.simulation import describe, simulate
from tests.local.test_cli import _base, _serve, _stop
from tests.waiting import wait_for


def counts(ep) -> dict:
    return ep.health()["workers"]


def test_throttled_workers_take_no_job_until_a_gpu_frees_up():
    with LocalEndpoint("echo", workers=2, throttled=2) as ep:
        ep.wait_ready(10)
        assert counts(ep)["throttled"] == 2 and counts(ep)["idle"] == 0
        job = httpx.post(f"{ep.url}/run", json={"input": {"a": 1}}).json()
        assert ep.health()["jobs"]["inQueue"] == 1
        ep.simulate(throttled=1)  # one GPU frees up: one real worker starts and takes it
        done = wait_for(lambda: (d := httpx.get(f"{ep.url}/status/{job['id']}").json())
                        ["status"] == "COMPLETED" and d, 30, "the job to run")
        assert done["output"] == {"echo": {"a": 1}}
        assert counts(ep)["throttled"] == 1 and counts(ep)["idle"] == 1


def test_unhealthy_workers_show_in_health_and_take_no_job():
    with LocalEndpoint("echo", workers=2, unhealthy=1) as ep:
        ep.wait_ready(30)
        assert counts(ep)["unhealthy"] == 1 and counts(ep)["idle"] == 1
        assert [w["state"] for w in ep.workers()] == ["idle"]  # one real worker process


def test_zero_workers_means_none_run_none_start_and_jobs_wait():
    with LocalEndpoint("echo", workers=0) as ep:
        ep.wait_ready(5)
        job = httpx.post(f"{ep.url}/run", json={"input": {}}).json()
        assert set(counts(ep).values()) == {0} and ep.workers() == []
        assert httpx.get(f"{ep.url}/status/{job['id']}").json()["status"] == "IN_QUEUE"


def test_a_cold_start_shows_initializing_workers_while_jobs_wait():
    with LocalEndpoint("echo", cold_start=30) as ep:
        wait_for(lambda: counts(ep)["initializing"] == 1, 10, "the worker to initialize")
        job = httpx.post(f"{ep.url}/run", json={"input": {}}).json()
        assert httpx.get(f"{ep.url}/status/{job['id']}").json()["status"] == "IN_QUEUE"


@pytest.mark.parametrize("states", [{"throttled": -1}, {"unhealthy": 1.5}, {"speed": 1},
                                    {"cold_start": "slow"}])
def test_a_simulated_state_out_of_range_is_refused(states):
    with LocalEndpoint("echo", workers=0) as ep, pytest.raises((ValueError, TypeError)):
        simulate(ep.settings, **states)


def test_serve_flags_simulate_the_states_and_the_banner_says_so():
    proc, lines = _serve("echo", "--endpoint-id", "sim", "--workers", "3", "--throttled", "1",
                         "--unhealthy", "1")
    try:
        text = "\n".join(lines)
        assert ("simulated: 1 throttled (no GPU capacity), 1 unhealthy (crash-looping)"
                in text)
        health = httpx.get(f"{_base(lines)}/sim/health").json()["workers"]
        assert (health["throttled"], health["unhealthy"], health["idle"]) == (1, 1, 1)
    finally:
        assert _stop(proc) == 0


def test_describe_names_each_simulated_state():
    with LocalEndpoint("echo", workers=0) as ep:
        assert describe(ep.settings) == "no workers allowed (max workers 0)"
        simulate(ep.settings, workers=1, throttled=1, cold_start=5)
        assert describe(ep.settings) == ("1 throttled (no GPU capacity), a cold start of 5 s "
                                         "per worker")
