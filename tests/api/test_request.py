"""Requests are checked before anything is sent, with messages that say what to change."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest

from rp_jupyter.api.errors import InvalidRequestError
from rp_jupyter.api.redact import MASK, Secret
from rp_jupyter.api.request import build_request
from rp_jupyter.wire_rules import RUN_MAX_BYTES, RUNSYNC_MAX_BYTES

S3 = {"accessId": "AKIA1", "accessSecret": "s3-secret-value", "bucketName": "b",
      "endpointUrl": "https://s3.example.com"}


def test_a_full_request_becomes_the_documented_body():
    req = build_request({"prompt": "hi"}, webhook="https://example.com/hook",
                        execution_timeout=120, ttl=timedelta(hours=1), low_priority=True,
                        s3_config=S3)
    assert json.loads(req.encoded) == {
        "input": {"prompt": "hi"},
        "webhook": "https://example.com/hook",
        "policy": {"executionTimeout": 120_000, "lowPriority": True, "ttl": 3_600_000},
        "s3Config": S3,
    }
    assert req.body["s3Config"]["accessSecret"] == Secret(S3["accessSecret"])


@pytest.mark.parametrize(("name", "seconds"), [
    ("execution_timeout", 4.9), ("execution_timeout", 7 * 86400 + 1),
    ("ttl", 9.99), ("ttl", 7 * 86400 + 1),
])
def test_policy_values_outside_the_documented_ranges_are_refused(name, seconds):
    with pytest.raises(InvalidRequestError) as caught:
        build_request({}, **{name: seconds})
    message = str(caught.value)
    assert name in message and "between" in message
    assert caught.value.hint and f"{name}=" in caught.value.hint


@pytest.mark.parametrize(("name", "seconds", "ms"), [
    ("execution_timeout", 5, 5_000), ("execution_timeout", 7 * 86400, 7 * 86_400_000),
    ("ttl", 10, 10_000), ("ttl", timedelta(days=7), 7 * 86_400_000),
])
def test_policy_values_at_the_range_ends_are_accepted(name, seconds, ms):
    key = {"execution_timeout": "executionTimeout", "ttl": "ttl"}[name]
    assert build_request({}, **{name: seconds}).body["policy"][key] == ms


def test_a_policy_value_that_is_not_a_number_is_refused():
    with pytest.raises(InvalidRequestError, match="number of seconds"):
        build_request({}, ttl="1h")


@pytest.mark.parametrize(("value", "where"), [
    ({"x": {1, 2}}, "input.x is"),
    ({"x": [1, b"raw"]}, "input.x[1] is"),
    ({"x": {3: "int key"}}, "input.x has a key 3"),
    ({"x": math.nan}, "input.x is nan"),
    ({"a b": [{"c": math.inf}]}, 'input["a b"][0].c is inf'),
])
def test_input_that_is_not_json_is_refused_naming_the_offending_value(value, where):
    with pytest.raises(InvalidRequestError) as caught:
        build_request(value)
    assert where in str(caught.value)
    assert caught.value.hint


def test_input_must_be_an_object():
    with pytest.raises(InvalidRequestError, match="JSON object"):
        build_request(["a", "list"])


def test_a_run_body_over_10_mb_is_refused_before_sending_and_points_to_runsync():
    big = {"blob": "x" * (RUN_MAX_BYTES + 1)}
    with pytest.raises(InvalidRequestError) as caught:
        build_request(big)
    assert "/run accepts at most 10 MB" in str(caught.value)
    assert "20 MB" in caught.value.hint
    assert len(build_request(big, sync=True).encoded) > RUN_MAX_BYTES


def test_a_runsync_body_over_20_mb_is_refused():
    with pytest.raises(InvalidRequestError, match="/runsync accepts at most 20 MB"):
        build_request({"blob": "x" * RUNSYNC_MAX_BYTES}, sync=True)


def test_the_s3_secret_is_sent_but_never_kept():
    req = build_request({"a": 1}, s3_config=S3)
    assert json.loads(req.encoded)["s3Config"]["accessSecret"] == "s3-secret-value"
    assert req.redacted["s3Config"]["accessSecret"] == MASK
    assert "s3-secret-value" not in json.dumps(req.redacted)


def test_an_incomplete_s3_config_names_what_is_missing_and_unknown():
    with pytest.raises(InvalidRequestError) as caught:
        build_request({}, s3_config={"accessId": "a", "bucket": "b"})
    message = str(caught.value)
    assert "missing accessSecret, bucketName, endpointUrl" in message
    assert "unknown bucket" in message


def test_a_webhook_must_be_an_http_url():
    with pytest.raises(InvalidRequestError, match="webhook must be an http"):
        build_request({}, webhook="ftp://example.com")


def test_the_reuse_key_ignores_key_order_but_not_options():
    a = build_request({"x": 1, "y": [1, 2]}, ttl=60)
    b = build_request({"y": [1, 2], "x": 1}, ttl=60)
    c = build_request({"x": 1, "y": [1, 2]}, ttl=61)
    assert a.request_hash == b.request_hash and a.input_hash == b.input_hash
    assert a.request_hash != c.request_hash and a.input_hash == c.input_hash


def test_the_reuse_key_tells_secrets_apart_by_a_hash_of_them():
    other = {**S3, "accessSecret": "another"}
    assert (build_request({}, s3_config=S3).request_hash
            == build_request({}, s3_config=dict(S3)).request_hash)
    assert (build_request({}, s3_config=S3).request_hash
            != build_request({}, s3_config=other).request_hash)
