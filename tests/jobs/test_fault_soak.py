"""The promises under faults: 500 jobs, plain and streaming, through a proxy that injects
10% faults (429 with Retry-After, 502/503 before or after forwarding, resets before or
after forwarding): nothing lost, nothing run twice, no gap hidden, no hang, and every
submit that may have been accepted said to be.  The large version is ``bench/soak.py``."""

from __future__ import annotations

import pytest

from tests.soak import run_soak


@pytest.mark.timeout(240)
def test_500_jobs_at_10_percent_faults_lose_nothing_run_nothing_twice_and_hide_no_gap():
    report = run_soak(500, fault_rate=0.1, seed=12)
    assert report.problems == []
    assert (report.lost_results, report.hangs, report.silent_gaps,
            report.duplicate_executions, report.unflagged_ambiguous,
            report.journal_mismatches) == (0, 0, 0, 0, 0, 0)
    assert report.accepted + report.refused + report.maybe_accepted == 500
    assert report.completed == report.accepted
    # the faults were really met, of every kind, and where they matter
    assert set(report.faults) >= {"ok", "429", "503", "502_before", "502_after",
                                  "reset_before", "reset_after"}
    assert report.maybe_accepted > 0 and report.maybe_accepted_ran > 0
    assert report.admitted_gaps > 0 and report.healed_gaps > 0
