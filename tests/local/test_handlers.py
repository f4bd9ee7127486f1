"""The handler contract: job dict, return mapping, errors, generators, loading forms."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from tests.local.conftest import submit, wait_status

H = "tests.local.handlers"


@pytest.fixture(scope="module")
def handlers_server():
    """One server with an endpoint per test handler, one worker each."""
    from rp_jupyter.local import LocalServer

    names = ["job_view", "raises", "soft_error", "soft_error_only", "returns_scalar",
             "not_serializable", "async_echo", "numbers", "async_numbers",
             "generator_raises", "generator_error_chunk", "pid", "refresh"]
    with LocalServer() as server:
        for name in names:
            server.add_endpoint(name, f"{H}:{name}", rate_limits="off")
        server.add_endpoint("numbers-agg", f"{H}:numbers", return_aggregate_stream=True)
        server.add_endpoint("async-agg", f"{H}:async_numbers", return_aggregate_stream=True)
        for handle in server.endpoints.values():
            handle.wait_ready(20.0)
        yield server


def runsync(client, server, name, job_input=None, **extra):
    url = f"{server.base_url}/{name}/runsync"
    response = client.post(url, json={"input": job_input or {}, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_handler_gets_id_input_and_the_passed_through_keys(handlers_server, client):
    policy = {"executionTimeout": 60000, "ttl": 60000}
    s3 = {"accessId": "a", "accessSecret": "s", "bucketName": "b", "endpointUrl": "http://x"}
    doc = runsync(client, handlers_server, "job_view", {"q": 1},
                  webhook="http://127.0.0.1:9/hook", policy=policy, s3Config=s3)
    assert doc["output"]["keys"] == ["id", "input", "policy", "s3Config", "webhook"]
    job = doc["output"]["job"]
    assert job["id"] == doc["id"] and job["input"] == {"q": 1}
    assert job["policy"] == policy and job["s3Config"] == s3
    plain = runsync(client, handlers_server, "job_view", {"q": 2})
    assert plain["output"]["keys"] == ["id", "input"]


def test_a_raised_exception_fails_with_a_json_encoded_error(handlers_server, client):
    doc = runsync(client, handlers_server, "raises", {"message": "no good"})
    assert doc["status"] == "FAILED"
    assert "output" not in doc
    error = json.loads(doc["error"])
    assert error["error_type"] == "<class 'ValueError'>"
    assert error["error_message"] == "no good"
    assert "Traceback" in error["error_traceback"] and "no good" in error["error_traceback"]
    assert error["runpod_version"] == "local"
    assert error["worker_id"] == doc["workerId"]
    assert "hostname" in error


def test_returning_an_error_fails_and_keeps_the_other_keys_as_output(handlers_server, client):
    doc = runsync(client, handlers_server, "soft_error")
    assert doc["status"] == "FAILED"
    assert doc["error"] == "soft failure"
    assert doc["output"] == {"detail": 1}
    only = runsync(client, handlers_server, "soft_error_only")
    assert only["status"] == "FAILED" and only["error"] == "only the error"
    assert "output" not in only


def test_any_json_value_can_be_the_output(handlers_server, client):
    assert runsync(client, handlers_server, "returns_scalar", {"value": [1, "a"]})["output"] \
        == [1, "a"]
    assert runsync(client, handlers_server, "returns_scalar", {"value": None})["output"] is None


def test_an_output_that_is_not_json_fails_the_job_with_a_clear_error(handlers_server, client):
    doc = runsync(client, handlers_server, "not_serializable")
    assert doc["status"] == "FAILED"
    assert "not JSON serializable" in doc["error"]


def test_an_async_handler_runs(handlers_server, client):
    assert runsync(client, handlers_server, "async_echo", {"a": 1})["output"] == \
        {"async": {"a": 1}}


@pytest.mark.parametrize("name, agg, expected", [
    ("numbers", "numbers-agg", [0, 1, 2, 3]),
    ("async_numbers", "async-agg", [{"i": 0}, {"i": 1}, {"i": 2}, {"i": 3}]),
])
def test_generators_stream_and_aggregate_only_when_asked(handlers_server, client, name, agg,
                                                         expected):
    doc = runsync(client, handlers_server, name, {"n": 4})
    assert doc["status"] == "COMPLETED" and doc["output"] == []
    stream = client.get(f"{handlers_server.base_url}/{name}/stream/{doc['id']}").json()
    assert [c["output"] for c in stream["stream"]] == expected
    aggregated = runsync(client, handlers_server, agg, {"n": 4})
    assert aggregated["output"] == expected


def test_a_generator_that_raises_fails_with_the_sdk_message(handlers_server, client):
    doc = runsync(client, handlers_server, "generator_raises")
    assert doc["status"] == "FAILED"
    assert doc["error"].startswith("handler: 'generator gave up' \ntraceback: ")
    assert "KeyError" in doc["error"]
    stream = client.get(f"{handlers_server.base_url}/generator_raises/stream/{doc['id']}")
    assert [c["output"] for c in stream.json()["stream"]] == ["first"]


def test_a_generator_yielding_an_error_stops_and_fails(handlers_server, client):
    doc = runsync(client, handlers_server, "generator_error_chunk")
    assert doc["status"] == "FAILED" and doc["error"] == "bad chunk"
    stream = client.get(f"{handlers_server.base_url}/generator_error_chunk/stream/{doc['id']}")
    assert [c["output"] for c in stream.json()["stream"]] == ["a"]


def test_handlers_run_in_worker_processes(handlers_server, client):
    pids = {runsync(client, handlers_server, "pid")["output"] for _ in range(3)}
    assert len(pids) == 1
    assert pids.pop() != os.getpid()


def test_refresh_worker_replaces_the_worker_after_the_job(handlers_server, client):
    first = runsync(client, handlers_server, "refresh")
    assert first["status"] == "COMPLETED"
    assert first["output"] == {"pid": first["output"]["pid"]}
    second = runsync(client, handlers_server, "refresh")
    assert second["output"]["pid"] != first["output"]["pid"]
    assert second["workerId"] != first["workerId"]


def test_a_handler_file_path_with_a_name(start_endpoint, client, tmp_path):
    path = tmp_path / "my_handler.py"
    path.write_text(textwrap.dedent("""
        import helper_module

        def predict(job):
            return {"doubled": helper_module.double(job["input"]["n"])}
    """))
    (tmp_path / "helper_module.py").write_text("def double(n):\n    return 2 * n\n")
    ep = start_endpoint(f"{path}:predict")
    doc = client.post(f"{ep.url}/runsync", json={"input": {"n": 21}}).json()
    assert doc["output"] == {"doubled": 42}


def test_a_handler_file_path_defaults_to_the_name_handler(start_endpoint, client, tmp_path):
    path = tmp_path / "plain.py"
    path.write_text("def handler(job):\n    return 'from file'\n")
    ep = start_endpoint(str(path))
    assert client.post(f"{ep.url}/runsync", json={"input": {}}).json()["output"] == "from file"


def test_a_callable_defined_in_a_function_runs_in_a_forked_worker(start_endpoint, client):
    secret = {"made": "in the test"}

    def local_handler(job):
        return {"closure": secret, "input": job["input"], "pid": os.getpid()}

    ep = start_endpoint(local_handler, workers=1)
    doc = client.post(f"{ep.url}/runsync", json={"input": {"k": 1}}).json()
    assert doc["output"]["closure"] == secret and doc["output"]["input"] == {"k": 1}
    assert doc["output"]["pid"] != os.getpid()


def test_an_importable_callable_is_loaded_by_name(start_endpoint, client):
    from rp_jupyter.local.handler_spec import HandlerSpec
    from tests.local import handlers

    assert HandlerSpec.of(handlers.returns_scalar).target == f"{H}:returns_scalar"
    ep = start_endpoint(handlers.returns_scalar)
    assert client.post(f"{ep.url}/runsync", json={"input": {"value": 5}}).json()["output"] == 5


@pytest.mark.parametrize("spec", ["no_such_module_xyz:handler", "missing/file.py",
                                  "not a spec!"])
def test_a_handler_that_cannot_be_found_is_refused_at_once(spec):
    from rp_jupyter.local import LocalEndpoint

    with pytest.raises(ValueError):
        LocalEndpoint(spec)


def test_a_handler_that_fails_to_load_makes_the_worker_unhealthy(start_endpoint, tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("raise ImportError('this handler cannot load')\n\n"
                    "def handler(job):\n    return 1\n")
    ep = start_endpoint(str(path), ready=False)
    with pytest.raises(RuntimeError, match="this handler cannot load") as raised:
        ep.wait_ready(20.0)
    assert "Traceback" not in str(raised.value)
    assert "broken.py raised ImportError" in str(raised.value)
    assert ep.health()["workers"]["unhealthy"] == 1


def test_a_handler_name_missing_from_its_module_is_refused_at_once():
    from rp_jupyter.local import LocalEndpoint

    with pytest.raises(ValueError, match="has no function 'no_such_function'"):
        LocalEndpoint(f"{H}:no_such_function")


def test_job_ids_submitted_to_a_forked_worker_finish(start_endpoint, client):
    def gen(job):
        yield from range(3)

    ep = start_endpoint(gen, return_aggregate_stream=True)
    job_id = submit(client, ep, {})
    assert wait_status(client, ep, job_id, "COMPLETED")["output"] == [0, 1, 2]
