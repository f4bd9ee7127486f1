"""Shared fixtures: every test gets its own journal folder and a fresh engine."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def rp_home(tmp_path, monkeypatch):
    """An empty ``RP_JUPYTER_HOME`` per test; the engine started by the test is stopped after."""
    home = tmp_path / "rp_home"
    monkeypatch.setenv("RP_JUPYTER_HOME", str(home))
    for name in ("RUNPOD_API_KEY", "RUNPOD_ENDPOINT_BASE_URL", "RUNPOD_ENDPOINT_ID",
                 "RP_JUPYTER_BLOCK", "RP_JUPYTER_CACHE"):
        monkeypatch.delenv(name, raising=False)
    yield home
    from rp_jupyter.jobs.engine import Engine
    from rp_jupyter.jobs.journal import JobJournal

    engine = Engine.peek()
    if engine is not None:
        engine.shutdown()
    with JobJournal._instances_lock:
        journals = list(JobJournal._instances.values())
        JobJournal._instances.clear()
    for journal in journals:
        journal.close()
