"""Opt-in reuse: ``cache="use"`` answers from the journal with no request at all,
``"refresh"`` runs again and records the new result, ``"off"`` (the default) always runs."""

from __future__ import annotations

import asyncio

import pytest

import rp_jupyter
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.local import LocalEndpoint


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


def scoped(server) -> rp_jupyter.Endpoint:
    """An Endpoint for a local server that says which handler code answers it."""
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url,
                               cache_scope=server.cache_scope)


def test_a_local_endpoint_restarted_on_another_port_still_answers_from_the_journal():
    with LocalEndpoint("echo", endpoint_id="same") as before:
        job = scoped(before).run({"x": 1})
        assert job.result(timeout=30) == {"echo": {"x": 1}}
    with LocalEndpoint("echo", endpoint_id="same") as after:
        assert after.base_url != before.base_url
        assert after.cache_scope == before.cache_scope
        again = scoped(after).run({"x": 1}, cache="use")
        assert again.cached and again.id == job.id
        assert after.request_count() == 0


def test_another_handler_on_another_port_is_never_answered_from_the_journal():
    with LocalEndpoint("echo") as echo:  # both use the default id, "local"
        first = rp_jupyter.Endpoint("local", base_url=echo.base_url).run({"n": 3})
        assert first.result(timeout=30) == {"echo": {"n": 3}}
    with LocalEndpoint("tokens") as tokens:
        again = rp_jupyter.Endpoint("local", base_url=tokens.base_url).run({"n": 3},
                                                                            cache="use")
        assert not again.cached and tokens.request_count("run") == 1
        assert again.result(timeout=30) != first.result()


def test_scopes_keep_each_handlers_answers_to_itself():
    with LocalEndpoint("echo") as echo, LocalEndpoint("tokens") as tokens:
        assert echo.cache_scope != tokens.cache_scope
        scoped(echo).run({"n": 2}).wait(30)
        again = scoped(tokens).run({"n": 2}, cache="use")
        assert not again.cached and tokens.request_count("run") == 1


def test_an_edited_handler_file_is_run_again_not_answered_with_the_old_result(tmp_path):
    handler = tmp_path / "answer.py"
    handler.write_text("def handler(job):\n    return {'version': 1}\n")
    with LocalEndpoint(str(handler)) as old:
        assert scoped(old).run({"q": 1}).result(timeout=30) == {"version": 1}
        assert scoped(old).run({"q": 1}, cache="use").cached
    handler.write_text("def handler(job):\n    return {'version': 2}\n")
    with LocalEndpoint(str(handler)) as new:
        assert new.cache_scope != old.cache_scope
        job = scoped(new).run({"q": 1}, cache="use")
        assert not job.cached and job.result(timeout=30) == {"version": 2}


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
