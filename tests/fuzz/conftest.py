"""Fuzz tests: Hypothesis properties over cells, flag lines, placeholders, Python inputs,
ids and raw HTTP requests, each asserting the four zeros of issue 13 (no request for
rejected input, no traceback, no secret in any output, no server 5xx).

Bounded for the suite (a few dozen examples each, well under a minute for the set);
``bench/fuzz.py`` runs them with many more examples (``RP_JUPYTER_FUZZ_SCALE``) and
prints what :mod:`tests.fuzz.tally` counted.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from tests.fuzz.tally import examples, write_tally

settings.register_profile(
    "rp_jupyter_fuzz",
    max_examples=examples(40),
    deadline=None,
    database=None,  # nothing written into the work tree
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile("rp_jupyter_fuzz")


def pytest_sessionfinish(session, exitstatus) -> None:
    path = os.environ.get("RP_JUPYTER_FUZZ_REPORT")
    if path:
        write_tally(path)
