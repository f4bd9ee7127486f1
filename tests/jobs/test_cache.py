"""Opt-in reuse: ``cache="use"`` answers from the journal with no request at all,
``"refresh"`` runs again and records the new result, ``"off"`` (the default) always runs."""

from __future__ import annotations

import asyncio

import pytest

import rp_jupyter
from rp_jupyter.jobs.journal import JobJournal


def endpoint(server, **options) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url, **options)


@pytest.fixture
def first(chaos):
    """One completed streaming job, then the server's counts reset."""
    job = endpoint(chaos).run({"chunks": 2, "seed": 1}, ttl=600)
    job.wait(20)
    chaos.reset_stats()
    return job


def test_use_answers_from_the_journal_without_any_request(chaos, first):
    again = endpoint(chaos).run({"seed": 1, "chunks": 2}, ttl=600, cache="use")
    assert again.cached and again.id == first.id and again.is_final
    assert again.result() == first.result() and list(again.stream()) == first.chunks
    assert "from journal" in repr(again)
    assert chaos.request_count() == 0
    sync = endpoint(chaos).run_sync({"seed": 1, "chunks": 2}, ttl=600, cache="use")
    assert sync.cached and sync.result() == first.result()

    async def from_async() -> bool:
        job = await endpoint(chaos).arun({"chunks": 2, "seed": 1}, ttl=600, cache="use")
        return job.cached

    assert asyncio.run(from_async()) is True
    assert chaos.request_count() == 0


def test_use_sends_a_request_that_differs_in_input_or_options(chaos, first):
    ep = endpoint(chaos)
    assert not ep.run({"chunks": 2, "seed": 2}, ttl=600, cache="use").cached
    assert not ep.run({"chunks": 2, "seed": 1}, ttl=601, cache="use").cached
    assert chaos.request_count("run") == 2


def test_use_never_answers_with_a_failed_job(chaos):
    ep = endpoint(chaos)
    failed = ep.run({"error": "nope"})
    failed.wait(20)
    chaos.reset_stats()
    again = ep.run({"error": "nope"}, cache="use")
    assert not again.cached and again.id != failed.id
    assert chaos.request_count("run") == 1


def test_refresh_runs_once_and_records_the_new_result(chaos, first):
    ep = endpoint(chaos)
    fresh = ep.run({"chunks": 2, "seed": 1}, ttl=600, cache="refresh")
    assert not fresh.cached and fresh.id != first.id
    fresh.wait(20)
    assert chaos.request_count("run") == 1
    reused = ep.run({"chunks": 2, "seed": 1}, ttl=600, cache="use")
    assert reused.cached and reused.id == fresh.id  # the newest result answers now
    assert JobJournal.open().find(fresh.id).status == "COMPLETED"


def test_off_is_the_default_and_always_runs(chaos, first):
    ep = endpoint(chaos)
    assert not ep.run({"chunks": 2, "seed": 1}, ttl=600).cached
    assert not ep.run({"chunks": 2, "seed": 1}, ttl=600, cache="off").cached
    assert chaos.request_count("run") == 2


def test_a_local_endpoint_restarted_on_another_port_still_answers_from_the_journal():
    from rp_jupyter.local import LocalEndpoint

    with LocalEndpoint("echo", endpoint_id="same") as before:
        job = rp_jupyter.Endpoint("same", base_url=before.base_url).run({"x": 1})
        assert job.result(timeout=30) == {"echo": {"x": 1}}
    with LocalEndpoint("echo", endpoint_id="same") as after:
        assert after.base_url != before.base_url
        again = rp_jupyter.Endpoint("same", base_url=after.base_url).run({"x": 1}, cache="use")
        assert again.cached and again.id == job.id
        assert after.request_count() == 0


def test_hosted_endpoints_on_other_hosts_never_share_answers():
    journal = JobJournal.open()
    key = journal.record_submitting(base_url="https://one.example/v2", endpoint_id="ep",
                                    mode="run", request={"input": {}}, input_hash="i",
                                    request_hash="r").result()
    journal.record_submitted(key, "job-1", "IN_QUEUE").result()
    journal.record_final(key, "COMPLETED", {}, '"out"').result()
    assert journal.find_reusable("https://one.example/v2", "ep", "r").job_id == "job-1"
    assert journal.find_reusable("https://two.example/v2", "ep", "r") is None
    assert journal.find_reusable("https://one.example:8443/v2", "ep", "r") is None
