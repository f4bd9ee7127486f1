"""Every response variant reference section 9 lists as uncertain is read without error."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from rp_jupyter.api.client import Connection
from rp_jupyter.api.errors import JobFailedError, parse_job_error
from rp_jupyter.api.models import MISSING, Health, JobStatus, StatusDocument, StreamBatch

SDK_ERROR = json.dumps({
    "error_type": "<class 'ValueError'>", "error_message": "boom requested",
    "error_traceback": "Traceback (most recent call last):\n  ...\nValueError: boom",
    "hostname": "h", "worker_id": "w", "runpod_version": "1.12.0"})


@pytest.mark.parametrize("workers", [
    {"idle": 1, "running": 2},
    {"idle": 1, "initializing": 0, "ready": 1, "running": 2, "throttled": 3},
    {"idle": 1, "initializing": 0, "ready": 1, "running": 2, "throttled": 3, "unhealthy": 4},
])
def test_health_reads_two_five_or_six_worker_keys(workers):
    health = Health.parse({"workers": workers, "jobs": {"inQueue": 5}})
    assert (health.idle, health.running, health.in_queue) == (1, 2, 5)
    assert health.unhealthy == workers.get("unhealthy", 0)
    assert health.throttled == workers.get("throttled", 0)
    assert {f"workers.{k}" for k in workers} <= health.reported
    assert "workers.unhealthy" in health.reported or "unhealthy" not in workers


def test_health_tolerates_missing_sections_and_odd_values():
    health = Health.parse({"workers": {"idle": "3", "running": None}})
    assert (health.idle, health.running, health.completed) == (3, 0, 0)


def test_output_missing_differs_from_output_null_and_empty():
    assert StatusDocument.parse({"id": "a", "status": "FAILED"}).output is MISSING
    assert StatusDocument.parse({"id": "a", "status": "COMPLETED", "output": None}).output is None
    assert StatusDocument.parse({"id": "a", "status": "COMPLETED", "output": []}).output == []


def test_status_names_are_read_leniently():
    assert JobStatus.parse("RUNNING") is JobStatus.IN_PROGRESS
    assert JobStatus.parse("completed") is JobStatus.COMPLETED
    assert JobStatus.parse("SOMETHING_NEW") is JobStatus.IN_PROGRESS
    assert JobStatus.parse(None) is JobStatus.IN_QUEUE
    assert all(JobStatus.parse(s).is_final for s in ("COMPLETED", "FAILED", "CANCELLED",
                                                      "TIMED_OUT"))


def test_timings_and_worker_are_read_from_a_status_document():
    doc = StatusDocument.parse({"id": "j", "status": "COMPLETED", "delayTime": 824,
                                "executionTime": "3391", "workerId": "w1", "output": [1]})
    assert (doc.delay_ms, doc.execution_ms, doc.worker_id, doc.output) == (824, 3391, "w1", [1])


def test_a_json_encoded_handler_error_is_split_into_type_message_and_traceback():
    parsed = parse_job_error(SDK_ERROR)
    assert parsed["type"] == "ValueError"
    assert parsed["message"] == "boom requested"
    assert "Traceback" in parsed["details"]
    error = JobFailedError("job-1", SDK_ERROR)
    assert str(error) == "job job-1 failed: ValueError: boom requested"
    assert error.error == SDK_ERROR


@pytest.mark.parametrize(("raw", "message", "details"), [
    ("soft error message", "soft error message", None),
    ("handler: boom \ntraceback: line 1", "handler: boom", "line 1"),
    ("{not json", "{not json", None),
    (None, "unknown error", None),
    ({"message": "as a dict"}, "as a dict", None),
])
def test_plain_error_strings_keep_the_servers_message(raw, message, details):
    parsed = parse_job_error(raw)
    assert (parsed["message"], parsed["details"]) == (message, details)


def test_stream_batches_read_the_object_and_the_bare_list_forms():
    batch = StreamBatch.parse({"status": "IN_PROGRESS", "stream": [{"output": "a"},
                                                                   {"output": {"b": 1}}]})
    assert batch.chunks == ["a", {"b": 1}] and batch.status is JobStatus.IN_PROGRESS
    bare = StreamBatch.parse([{"output": "a", "metrics": {"t": 1}}, {"output": "b"}])
    assert bare.chunks == ["a", "b"] and not bare.status.is_final
    assert StreamBatch.parse({"status": "COMPLETED"}).chunks == []


def _mock_client(routes: dict[str, object]):
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=routes[request.url.path.rsplit("/", 1)[-1]])

    return Connection("http://runpod.test/v2", None,
                      transport=httpx.MockTransport(answer)).endpoint("ep")


def test_health_with_only_two_worker_keys_reaches_the_caller():
    """MockTransport: the local endpoint always sends all six worker keys; the hosted API's
    current docs show only two, which cannot be produced over loopback."""
    client = _mock_client({"health": {"workers": {"idle": 2, "running": 1}}})
    health = asyncio.run(client.health())
    assert (health.idle, health.running, health.ready, health.in_queue) == (2, 1, 0, 0)
    assert health.reported == {"workers.idle", "workers.running"}


def test_a_bare_list_stream_answer_reaches_the_caller():
    """MockTransport: the docs' bare-array /stream example; the local endpoint (like the SDKs)
    always answers an object."""
    client = _mock_client({"job-1": [{"output": "x", "metrics": {}}, {"output": "y"}]})
    batch = asyncio.run(client.stream("job-1"))
    assert batch.chunks == ["x", "y"]
