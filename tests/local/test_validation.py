"""400 answers: malformed bodies, missing input, policy bounds and payload limits."""

from __future__ import annotations

import pytest

BAD = {"status": 400, "title": "Bad Request"}


def _detail(response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert {k: body[k] for k in ("status", "title")} == BAD
    return body["detail"]


@pytest.mark.parametrize("op", ["run", "runsync"])
def test_malformed_json_is_a_400_that_says_so(echo, client, op):
    response = client.post(f"{echo.url}/{op}", content=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert "invalid JSON" in _detail(response)


@pytest.mark.parametrize("op", ["run", "runsync"])
def test_missing_input_is_a_400_that_names_the_field(echo, client, op):
    response = client.post(f"{echo.url}/{op}", json={"prompt": "no input key"})
    assert 'missing required field "input"' in _detail(response)


@pytest.mark.parametrize("value, kind", [("a string", "string"), ([1], "array"),
                                         (None, "null"), (3, "number")])
def test_input_that_is_not_an_object_is_a_400(echo, client, value, kind):
    response = client.post(f"{echo.url}/run", json={"input": value})
    detail = _detail(response)
    assert '"input" must be a JSON object' in detail and kind in detail


def test_a_body_that_is_not_an_object_is_a_400(echo, client):
    assert "must be a JSON object" in _detail(client.post(f"{echo.url}/run", json=[1, 2]))


def test_an_empty_body_is_a_400(echo, client):
    assert "empty body" in _detail(client.post(f"{echo.url}/run", content=b""))


@pytest.mark.parametrize("policy, words", [
    ({"executionTimeout": 100}, "policy.executionTimeout must be between 5000 and"),
    ({"executionTimeout": 8 * 86400 * 1000}, "policy.executionTimeout must be between"),
    ({"ttl": 5000}, "policy.ttl must be between 10000 and"),
    ({"ttl": "soon"}, "policy.ttl must be a number"),
    ({"lowPriority": "yes"}, "policy.lowPriority must be a boolean"),
])
def test_policy_values_outside_the_documented_bounds_are_a_400(echo, client, policy, words):
    response = client.post(f"{echo.url}/run", json={"input": {}, "policy": policy})
    assert words in _detail(response)


def test_policy_values_inside_the_bounds_are_accepted(echo, client):
    body = {"input": {}, "policy": {"executionTimeout": 5000, "ttl": 10000,
                                    "lowPriority": False}}
    assert client.post(f"{echo.url}/run", json=body).status_code == 200


def test_a_webhook_that_is_not_a_url_is_a_400(echo, client):
    response = client.post(f"{echo.url}/run", json={"input": {}, "webhook": "nope"})
    assert "webhook" in _detail(response)


def test_a_run_body_over_10_mib_is_refused_with_the_hosted_message_as_a_413(echo, client):
    big = b'{"input": {"blob": "' + b"x" * (10 * 1024 * 1024) + b'"}}'
    response = client.post(f"{echo.url}/run", content=big,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"status": 413, "title": "Payload Too Large",
                               "detail": "bad request: body: exceeded max body size of 10MiB"}


def test_runsync_accepts_more_than_10_mib_and_refuses_more_than_20(echo, client):
    eleven = b'{"input": {"blob": "' + b"x" * (11 * 1024 * 1024) + b'"}}'
    ok = client.post(f"{echo.url}/runsync", content=eleven,
                     headers={"Content-Type": "application/json"})
    assert ok.status_code == 200 and ok.json()["status"] == "COMPLETED"
    assert len(ok.json()["output"]["echo"]["blob"]) == 11 * 1024 * 1024
    over = b'{"input": {"blob": "' + b"x" * (20 * 1024 * 1024) + b'"}}'
    refused = client.post(f"{echo.url}/runsync", content=over,
                          headers={"Content-Type": "application/json"})
    assert refused.status_code == 413
    assert refused.json()["detail"] == "bad request: body: exceeded max body size of 20MiB"


def test_the_body_limit_is_a_setting(start_endpoint, client):
    ep = start_endpoint("echo", max_run_body=100)
    response = client.post(f"{ep.url}/run", json={"input": {"blob": "y" * 200}})
    assert response.status_code == 413
    assert response.json()["detail"] == "bad request: body: exceeded max body size of 100 bytes"
    assert client.post(f"{ep.url}/run", json={"input": {}}).status_code == 200


def test_a_bad_wait_parameter_is_a_400(echo, client):
    response = client.post(f"{echo.url}/runsync?wait=soon", json={"input": {}})
    assert "expected milliseconds" in _detail(response)
