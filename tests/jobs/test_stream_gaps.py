"""``/stream`` hands each chunk out once: when an answer is lost after the server sent it,
the job says chunks may be missing (and the journal keeps that), unless the final output
repeats every chunk, which then fills the gap."""

from __future__ import annotations

import threading
import warnings

import pytest

import rp_jupyter
from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.notebook.static import static_bundle
from tests.client_support import start_local

ALL = [{"chunk": i} for i in range(10)] + [
    {"done": True, "slept": 0.0, "chunks": 10, "attempt": 1}]


def endpoint(server) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url)


def gap_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if w.category is rp_jupyter.StreamGapWarning]


def test_a_stream_answer_lost_after_sending_leaves_a_gap_the_job_admits(chaos):
    chaos.faults.script("stream", ["ok", "drop_after"])  # the second answer is lost
    job = endpoint(chaos).run({"chunks": 10, "interval": 0.05})
    with pytest.warns(rp_jupyter.StreamGapWarning, match="may be missing chunks"):
        output = job.result(timeout=30)
    assert len(output) < len(ALL)  # chunks really were lost: the server handed them out once
    assert output == [c for c in ALL if c in output]  # what arrived is in order, no repeats
    assert job.stream_complete is False
    with pytest.warns(rp_jupyter.StreamGapWarning):
        assert list(job.stream()) == output

    record = JobJournal.open().find(job.id)
    assert record.stream_gap and record.status == "COMPLETED"
    assert any(detail and detail.startswith("stream gap") for _, _, detail in record.events())
    bundle = static_bundle(job)  # what a saved notebook shows
    assert "chunks may be missing" in bundle["text/plain"]
    assert "chunks may be missing" in bundle["text/html"]

    job_id = job.id
    del job
    again = rp_jupyter.Endpoint(chaos.endpoint_id, base_url=chaos.base_url).job(job_id)
    assert again.source == "journal" and again.stream_complete is False
    with pytest.warns(rp_jupyter.StreamGapWarning):
        assert rp_jupyter.result(job_id) == output


def test_a_gap_is_filled_from_an_output_that_repeats_every_chunk():
    server = start_local("chaos", workers=1, return_aggregate_stream=True)
    try:
        server.faults.script("stream", ["ok", "drop_after"])
        job = endpoint(server).run({"chunks": 10, "interval": 0.05})
        read_live: list = []
        with warnings.catch_warnings(record=True) as live_warnings:
            warnings.simplefilter("always")
            reader = threading.Thread(target=lambda: read_live.extend(job.stream(timeout=30)))
            reader.start()
            reader.join(40)
        assert not reader.is_alive()
        # a reader part-way through saw the gap, and is told the whole stream is in job.chunks
        assert len(read_live) < len(ALL)
        assert any("hold the whole stream" in m for m in gap_warnings(live_warnings))

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert job.result(timeout=30) == ALL
            assert list(job.stream()) == ALL
        assert gap_warnings(caught) == []
        assert job.stream_complete is True and job.chunks == ALL

        record = JobJournal.open().find(job.id)
        assert record.chunks() == ALL and record.chunk_count == len(ALL)
        assert not record.stream_gap
        assert "chunks may be missing" not in static_bundle(job)["text/plain"]
    finally:
        server.stop()


def test_a_job_that_never_streams_has_no_gap_after_a_lost_stream_answer():
    server = start_local("rp_jupyter.local.examples.chaos:plain", workers=1)
    try:
        server.faults.script("stream", ["drop_after"])
        job = endpoint(server).run({"sleep": 0.2})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert job.result(timeout=30) == {"done": True, "slept": 0.2, "attempt": 1}
        assert gap_warnings(caught) == [] and job.stream_complete is True
        assert not JobJournal.open().find(job.id).stream_gap
    finally:
        server.stop()
