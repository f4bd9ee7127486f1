"""Shared fixtures: every test gets its own journal folder and a fresh engine; the wire and
engine tests share a chaos endpoint per module; the session ends by checking that no
process the tests started is still alive."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client_support import FAST_POLICY, start_local
from tests.leaks import mark_test_session, processes_left_behind

mark_test_session()  # before any test starts a process: every child inherits the mark


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running() -> Iterator[None]:
    """Fail the run if a process started by the tests outlives them (named, then killed)."""
    yield
    leaked = processes_left_behind()
    if leaked:
        lines = "\n".join(f"  {p.describe()}" for p in leaked)
        for process in leaked:
            process.kill()
        pytest.fail(f"{len(leaked)} process(es) started by the tests were still running at "
                    f"the end of the session (now killed):\n{lines}", pytrace=False)


@pytest.fixture(autouse=True)
def rp_home(tmp_path, monkeypatch):
    """An empty ``RP_JUPYTER_HOME`` per test; the engine started by the test is stopped after."""
    home = tmp_path / "rp_home"
    monkeypatch.setenv("RP_JUPYTER_HOME", str(home))
    for name in ("RUNPOD_API_KEY", "RUNPOD_ENDPOINT_BASE_URL", "RUNPOD_ENDPOINT_ID",
                 "RP_JUPYTER_BLOCK", "RP_JUPYTER_CACHE", "RP_JUPYTER_LOCAL_API_KEY"):
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


@pytest.fixture(scope="module")
def chaos_server() -> Iterator:
    """A chaos endpoint (2 workers, no key) shared by a module; see ``chaos``."""
    server = start_local("chaos", workers=2, **FAST_POLICY)
    yield server
    server.stop()


@pytest.fixture
def chaos(chaos_server):
    """The module's chaos endpoint with faults cleared and request counts reset."""
    chaos_server.faults.clear()
    chaos_server.faults.retry_after = 0.01
    chaos_server.reset_stats()
    yield chaos_server
    chaos_server.faults.clear()
