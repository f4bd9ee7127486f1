"""Fixtures for the wire tests: local endpoints on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client_support import FAST_POLICY, start_local


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
