"""Fuzzing the Python API against the local endpoint: job inputs and ids.  Bad values are
an ``InvalidRequestError`` naming their path, with nothing sent or journaled; good ones
are sent, with every secret masked on the way back."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rp_jupyter
from rp_jupyter import Secret
from rp_jupyter.api.redact import MASK
from rp_jupyter.jobs.journal import JobJournal
from tests.client_support import start_local
from tests.fuzz.strategies import JSON_SCALAR, NAME, ODD_IDS, SECRET, TEXT, escaping_ids
from tests.fuzz.tally import count, examples


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    endpoint = start_local("echo", workers=1, rate_limits="off")
    yield endpoint
    endpoint.stop()


@pytest.fixture
def ep(server) -> rp_jupyter.Endpoint:
    return rp_jupyter.Endpoint(server.endpoint_id, base_url=server.base_url)


def journal_bytes() -> bytes:
    journal = JobJournal.open()
    journal.flush()
    return b"".join(p.read_bytes() for p in journal.path.parent.glob("journal.sqlite3*"))


GOOD_VALUE = st.recursive(
    st.one_of(JSON_SCALAR, st.just(Secret(SECRET))),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=10)


def _circular() -> Any:
    loop: dict = {"x": 1}
    loop["again"] = [loop]
    return loop


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


DEFECTS = {  # name -> (strategy of the bad value, words the message must hold)
    "circular": (st.builds(_circular), "refers back to"),
    "deep": (st.integers(100, 5000).map(_deep), "nested more than 99 levels deep"),
    "surrogate": (st.integers(0xD800, 0xDFFF).map(lambda c: f"name{chr(c)}.txt"),
                  "unpaired surrogate"),
    "nonfinite": (st.sampled_from([math.nan, math.inf, -math.inf]), "not valid JSON"),
    "huge": (st.sampled_from([2**64, -(2**63) - 1, 10**400]), "too large for JSON"),
    "type": (st.sampled_from([{1, 2}, b"raw", object(), range(3), 1j, Ellipsis]),
             "not JSON-serialisable"),
    "key": (st.sampled_from([{1: "a"}, {None: 1}, {(1, 2): 3}]), "JSON keys must be strings"),
}


@st.composite
def bad_inputs(draw) -> tuple[dict, str, str]:
    """An input with one bad value somewhere: (input, its path, the expected words)."""
    defect = draw(st.sampled_from(sorted(DEFECTS)))
    strategy, words = DEFECTS[defect]
    value = draw(strategy)
    top = draw(NAME)
    steps = draw(st.lists(st.one_of(NAME, st.integers(0, 2)), max_size=3))
    for step in reversed(steps):  # wrap the bad value: under keys, or at list positions
        value = [*([0] * step), value] if isinstance(step, int) else {step: value}
    path = f"input.{top}" + "".join(f"[{s}]" if isinstance(s, int) else f".{s}"
                                    for s in steps)
    if defect == "deep":  # a long path is shown shortened: its start is enough
        path = f"input.{top}"
    return {top: value}, path, words


@settings(max_examples=examples(60))
@given(case=bad_inputs(), sync=st.booleans())
def test_a_bad_python_input_names_its_path_and_sends_nothing(ep, server, case, sync):
    value, path, words = case
    requests, jobs = server.request_count(), JobJournal.open().count()
    call = ep.run_sync if sync else ep.run
    outcome = "accepted"
    try:
        call(value)
    except rp_jupyter.InvalidRequestError as err:
        outcome = str(err)
    except Exception as err:  # counted, then failed below
        outcome = f"{type(err).__name__}: {err}"
    sent = server.request_count() - requests
    count("python inputs", examples=1, refused=outcome != "accepted",
          requests_for_refused=sent, tracebacks=outcome.startswith(("Recursion", "Unicode")))
    assert outcome.startswith(path), outcome
    assert words in outcome
    assert sent == 0 and JobJournal.open().count() == jobs


@settings(max_examples=examples(30))
@given(value=st.dictionaries(TEXT, GOOD_VALUE, max_size=4))
def test_a_good_python_input_is_sent_and_its_secrets_come_back_masked(ep, server, value):
    requests = server.request_count(op="run")
    job = ep.run(value)
    output = job.result(timeout=30)
    count("python inputs", examples=1, accepted=1,
          secrets_shown=SECRET in repr(output) + repr(job) + repr(job.request))
    assert server.request_count(op="run") == requests + 1
    has_secret = "Secret(" in repr(value)
    received = server.job_record(job.id)["input"]
    assert (SECRET in repr(received)) == has_secret  # the endpoint got the value itself
    assert SECRET not in repr(output) and SECRET not in repr(job.request)
    assert (MASK in repr(output)) >= has_secret
    assert SECRET.encode() not in journal_bytes()


@settings(max_examples=examples(40))
@given(job_id=escaping_ids())
def test_a_job_id_that_would_leave_its_route_is_never_sent(ep, server, job_id):
    requests, jobs = server.request_count(), JobJournal.open().count()
    with pytest.raises(rp_jupyter.InvalidRequestError):
        ep.job(job_id)
    count("ids", examples=1, refused=1, requests_for_refused=server.request_count() - requests)
    assert server.request_count() == requests and JobJournal.open().count() == jobs


@settings(max_examples=examples(40))
@given(job_id=ODD_IDS)
def test_any_other_job_id_reaches_its_own_route_as_one_segment(ep, server, job_id):
    server.reset_stats()
    with pytest.raises(rp_jupyter.JobNotFoundError):
        ep.job(job_id)
    count("ids", examples=1, accepted=1)
    assert [(e["op"], e["job_id"]) for e in server.request_log] == [("status", job_id)]
