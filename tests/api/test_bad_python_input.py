"""Bad input to the Python API is an ``InvalidRequestError`` naming the bad value's path;
nothing is sent and nothing is journaled (issue 13, Python API)."""

from __future__ import annotations

import math
import os
from datetime import timedelta

import pytest

import rp_jupyter
from rp_jupyter.jobs.journal import JobJournal
from tests.client_support import start_local


@pytest.fixture(scope="module")
def echo_server():
    server = start_local("echo", workers=1)
    yield server
    server.stop()


@pytest.fixture
def ep(echo_server):
    echo_server.reset_stats()
    return rp_jupyter.Endpoint(echo_server.endpoint_id, base_url=echo_server.base_url)


def refused(ep, server, value, **options) -> str:
    """The message of the error ``ep.run(value)`` raises; nothing may reach the server."""
    with pytest.raises(rp_jupyter.InvalidRequestError) as caught:
        ep.run(value, **options)
    assert server.request_count() == 0
    assert JobJournal.open().count() == 0
    return str(caught.value)


def test_a_circular_input_names_where_it_loops(ep, echo_server):
    files: list = ["a.txt"]
    files.append({"again": files})
    message = refused(ep, echo_server, {"files": files})
    assert "input.files[1].again refers back to input.files" in message


def test_an_input_nested_ten_thousand_deep_is_refused_not_a_recursion_error(ep, echo_server):
    deep: dict = {}
    node = deep
    for _ in range(10_000):
        node["a"] = {}
        node = node["a"]
    message = refused(ep, echo_server, deep)
    assert "nested more than 99 levels deep" in message
    assert message.startswith("input.a.a")


def test_a_file_name_that_is_not_utf8_is_refused_naming_its_path(ep, echo_server, tmp_path):
    (tmp_path / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"x")
    names = os.listdir(tmp_path)  # what os.listdir gives for a Latin-1 name: a lone surrogate
    message = refused(ep, echo_server, {"files": names})
    assert message.startswith("input.files[0]: the text holds '\\udce9'")
    assert "os.fsencode(name)" in message


def test_a_lone_surrogate_in_a_key_is_refused_too(ep, echo_server):
    message = refused(ep, echo_server, {"ok": {"bad\udcff": 1}})
    assert 'input.ok["bad\\udcff"]' in message


@pytest.mark.parametrize(("value", "where"), [
    ({"x": {1, 2}}, "input.x is not JSON-serialisable (a set)"),
    ({"x": [b"raw"]}, "input.x[0] is not JSON-serialisable (a bytes)"),
    ({"x": math.nan}, "input.x is nan"),
    ({"x": [math.inf]}, "input.x[0] is inf"),
    ({"x": 10**400}, "input.x is a number too large for JSON"),
    ({"x": {3: "int key"}}, "input.x has a key 3 (int)"),
    ({"odd key": [object()]}, 'input["odd key"][0] is not JSON-serialisable (a object)'),
])
def test_values_json_cannot_hold_are_refused_with_their_path(ep, echo_server, value, where):
    assert where in refused(ep, echo_server, value)


@pytest.mark.parametrize("option", ["execution_timeout", "ttl"])
@pytest.mark.parametrize("seconds", [math.nan, math.inf, -math.inf, 1e400, 10**400, -5, 0])
def test_durations_that_are_not_finite_or_in_range_are_refused(ep, echo_server, option,
                                                               seconds):
    message = refused(ep, echo_server, {"x": 1}, **{option: seconds})
    assert f"{option} is" in message and "it must be between" in message


@pytest.mark.parametrize("wait", [math.nan, math.inf, 10**400, timedelta(days=10**6)])
def test_a_run_sync_wait_that_is_not_a_finite_duration_is_refused(ep, echo_server, wait):
    with pytest.raises(rp_jupyter.InvalidRequestError, match="wait must be between"):
        ep.run_sync({"x": 1}, wait=wait)
    assert echo_server.request_count() == 0


def test_a_good_input_still_goes_through(ep, echo_server):
    deep: dict = {"leaf": 1}
    for _ in range(97):  # with "input" and "nested": 99 levels, the most there may be
        deep = {"a": deep}
    job = ep.run({"nested": deep, "seed": 2**63, "text": "ünïcode ✓"})
    assert job.result(timeout=30)["echo"]["seed"] == 2**63
    assert echo_server.request_count(op="run") == 1


@pytest.mark.parametrize("base_url", ["notaurl", "ftp://host/v2", "http://", "http://a b/v2"])
def test_a_base_url_that_is_not_http_is_refused_before_anything(base_url):
    with pytest.raises(rp_jupyter.InvalidRequestError, match="must be an http"):
        rp_jupyter.Endpoint("abc", base_url=base_url)


def test_an_api_key_a_header_cannot_carry_is_refused_without_showing_it():
    with pytest.raises(rp_jupyter.InvalidRequestError) as caught:
        rp_jupyter.Endpoint("abc", api_key="rpa_KEY\nInjected: yes")
    assert "rpa_KEY" not in str(caught.value) and "not shown" in str(caught.value)
