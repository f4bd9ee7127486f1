"""The budget: jobs past it are refused before anything is sent, running jobs that pass it
are cancelled and say why, estimates come from the endpoint's history."""

from __future__ import annotations

import asyncio

import pytest

import rp_jupyter
from rp_jupyter.jobs.budget import admit, estimate, stop_reason
from rp_jupyter.jobs.cost import set_price
from rp_jupyter.jobs.engine import Engine
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.jobs.session import session_of
from tests.client_support import CHAOS_PLAIN, server_job_count, start_local


@pytest.fixture(scope="module")
def server():
    endpoint = start_local(CHAOS_PLAIN, endpoint_id="paid", workers=2)
    yield endpoint
    endpoint.stop()


@pytest.fixture
def paid(server):
    server.reset_stats()
    set_price("paid", 0.01)
    yield rp_jupyter.Endpoint("paid", base_url=server.base_url)
    rp_jupyter.budget(None, per_day=None)


def test_a_job_past_the_session_budget_is_refused_before_anything_is_sent(server, paid):
    first = paid.run({"sleep": 0.2})
    first.result(30)
    spent = first.cost.dollars
    status = rp_jupyter.budget(spent / 2)
    assert status.session_spent == pytest.approx(spent)
    with pytest.raises(rp_jupyter.BudgetExceededError) as caught:
        paid.run({"sleep": 0.2})
    assert "the session budget of" in str(caught.value) and "is used up" in str(caught.value)
    assert "%runpod budget --off" in caught.value.hint
    assert server_job_count(server) == 1
    rp_jupyter.budget(None)
    paid.run({}).result(30)
    assert server_job_count(server) == 2


def test_a_job_whose_estimate_would_pass_the_budget_is_refused(server, paid):
    for _ in range(2):
        paid.run({"sleep": 0.5}).result(30)
    guess = estimate("paid", server.base_url)
    assert guess.seconds_each == pytest.approx(0.5, abs=0.2)
    rp_jupyter.budget(paid_so_far(paid) + guess.dollars_each / 2)
    with pytest.raises(rp_jupyter.BudgetExceededError, match=r"this job \(about \$.*would pass"):
        paid.run({"sleep": 0.5})


def paid_so_far(endpoint) -> float:
    return session_of(endpoint.runtime.engine).spending().total


def test_an_estimate_says_jobs_times_seconds_and_dollars(server, paid):
    for _ in range(3):
        paid.run({"sleep": 0.3}).result(30)
    guess = estimate("paid", server.base_url, 24)
    assert guess.history == 3 and guess.seconds_each == pytest.approx(0.3, abs=0.15)
    assert guess.total == pytest.approx(24 * guess.seconds_each * 0.01)
    assert guess.text().startswith(f"24 jobs × ~{guess.seconds_each:.1f} s ≈ $")
    empty = estimate("never-used", "http://127.0.0.1:1/v2", 5)
    assert empty.text() == "5 jobs; no finished job on never-used to estimate from"


def test_running_jobs_that_pass_the_budget_are_cancelled_and_say_why(server, paid):
    rp_jupyter.budget(0.02)  # two seconds of one job at $0.01 a second
    jobs = [paid.run({"sleep": 60}) for _ in range(2)]
    for job in jobs:
        assert job.wait(30), f"job {job.id} was not stopped by the budget"
    for job in jobs:
        assert job.status == "CANCELLED"
        assert stop_reason(job).startswith("cancelled to keep within the session budget of "
                                           "$0.020 ($0.0")
        record = JobJournal.open().find(job.id)
        assert record.note == stop_reason(job)
    spent = paid_so_far(paid)
    assert 0.01 < spent <= 0.025  # stopped before it passed the budget, give or take a cancel


def test_a_daily_budget_counts_every_job_of_the_day_in_the_journal(server, paid):
    job = paid.run({"sleep": 0.2})
    job.result(30)
    today = rp_jupyter.budget(per_day=job.cost.dollars / 2)
    assert today.today_spent >= job.cost.dollars
    with pytest.raises(rp_jupyter.BudgetExceededError, match="the daily budget of"):
        paid.run({})


def test_a_job_of_unknown_cost_is_refused_while_a_budget_is_set():
    rp_jupyter.budget(1.0)
    try:
        with pytest.raises(rp_jupyter.BudgetExceededError, match="costs is unknown"):
            admit(session_of(Engine.get()), "hosted-ep", "https://api.runpod.ai/v2")
        set_price("hosted-ep", gpu="A100")
        assert admit(session_of(Engine.get()), "hosted-ep", "https://api.runpod.ai/v2") \
            is not None
    finally:
        rp_jupyter.budget(None)


@pytest.mark.parametrize("bad", [0, -1, "lots", float("inf")])
def test_a_budget_that_is_not_a_positive_amount_is_refused(bad):
    with pytest.raises(ValueError, match="positive number of dollars"):
        rp_jupyter.budget(bad)


def test_a_retried_job_counts_every_attempt_and_is_refused_past_the_budget(server, paid):
    session = session_of(paid.runtime.engine)
    before = session.spending().total
    job = paid.run({"sleep": 0.3, "fail": "on purpose"})
    with pytest.raises(rp_jupyter.JobFailedError):
        job.result(30)
    first = job.cost.dollars
    job.retry()
    with pytest.raises(rp_jupyter.JobFailedError):
        job.result(30)
    assert job.attempt == 2 and first > 0 and job.cost.dollars > 0
    assert session.spending().total - before == pytest.approx(first + job.cost.dollars)
    rp_jupyter.budget(session.spending().total * 0.9)
    retries = server.request_count("retry")
    with pytest.raises(rp_jupyter.BudgetExceededError, match="is used up"):
        job.retry()
    assert server.request_count("retry") == retries  # nothing was sent
    assert job.attempt == 2 and job.status == "FAILED"


def test_each_job_of_a_fan_out_is_counted_once_as_it_ends(server, paid):
    session = session_of(paid.runtime.engine)
    before = session.spending()

    async def fan_out():
        jobs = await asyncio.gather(*(paid.arun({"sleep": 0.05, "n": i}) for i in range(20)))
        await asyncio.gather(*(job.aresult(timeout=30) for job in jobs))
        return jobs

    jobs = asyncio.run(fan_out())
    assert session.unfinished() == []
    after = session.spending()
    assert after.jobs - before.jobs == 20 and after.running == 0
    assert after.final - before.final == pytest.approx(sum(job.cost.dollars for job in jobs))
    assert all(job.cost.dollars > 0 for job in jobs)
