"""Fixtures for the widget tests: a recorded frontend (widget messages and displays) on a
real IPython shell, and one local server with the example handlers for the session.

The root ``tests/conftest.py`` gives every test its own ``RP_JUPYTER_HOME`` and engine.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from rp_jupyter.local import LocalServer
from tests.notebook.magic_shell import Shell
from tests.notebook.recording import Recorder, install_display_recorder, recording_comms

LOCAL_ENDPOINTS = {
    "ui-tokens": ("tokens", 2),
    "ui-chaos": ("chaos", 2),
    "ui-echo": ("echo", 2),
    "ui-images": ("images", 1),
}


class Frontend:
    """A shell whose displays and widget messages are recorded."""

    def __init__(self, shell: InteractiveShell, recorder: Recorder) -> None:
        self.shell = shell
        self.recorder = recorder

    def set_mode(self, mode: str) -> None:
        """Make ``display_mode()`` answer ``mode`` for this shell."""
        if mode == "terminal":
            self.shell.kernel = None
        else:
            self.shell.kernel = types.SimpleNamespace(_allow_stdin=mode == "live")

    def run_cell(self, source: str) -> Any:
        result = self.shell.run_cell(source, store_history=True)
        result.raise_error()
        return result.result


@pytest.fixture
def frontend() -> Iterator[Frontend]:
    config = Config()
    config.HistoryAccessor.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.displayhook.flush = lambda: None
    try:
        with recording_comms() as recorder:
            install_display_recorder(shell, recorder)
            front = Frontend(shell, recorder)
            front.set_mode("live")
            yield front
    finally:
        _stop_ticking()
        shell.kernel = None
        InteractiveShell.clear_instance()


def _stop_ticking() -> None:
    """Drop panels left by a test so they never tick into the next one."""
    from rp_jupyter.notebook.ticker import ticker

    clock = ticker()
    with clock._cond:
        clock._clients.clear()
        clock._poked.clear()


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        for endpoint_id, (handler, workers) in LOCAL_ENDPOINTS.items():
            server.add_endpoint(endpoint_id, handler, workers=workers)
        for handle in server.endpoints.values():
            handle.wait_ready(timeout=60)
        yield server


@pytest.fixture
def endpoint(local_server: LocalServer):
    """``endpoint("ui-tokens")``: an ``Endpoint`` on the session's local server."""
    from rp_jupyter.jobs.endpoint import Endpoint

    def make(endpoint_id: str, **options: Any) -> Endpoint:
        return Endpoint(endpoint_id, base_url=local_server.base_url, **options)

    return make


# -- magics: a real shell with the extension loaded, and a module-wide local server ------


@pytest.fixture
def ip():
    config = Config()
    config.HistoryAccessor.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.displayhook.flush = lambda: None
    shell.extension_manager.load_extension("rp_jupyter")
    try:
        yield Shell(shell)
    finally:
        shell.extension_manager.unload_extension("rp_jupyter")
        InteractiveShell.clear_instance()


@pytest.fixture(scope="module")
def server():
    """One local server for a test module, with the example handlers as endpoints."""
    with LocalServer() as srv:
        srv.add_endpoint("echo", "echo", workers=1)
        srv.add_endpoint("tokens", "tokens", workers=1)
        srv.add_endpoint("chaos", "chaos", workers=1, run_retention=3.0)
        srv.start()
        for handle in srv.endpoints.values():
            handle.wait_ready(timeout=60)
        yield srv


@pytest.fixture
def local(server, monkeypatch):
    """Point the magics at the module's local server (through the environment)."""
    for handle in server.endpoints.values():
        handle.reset_stats()
    monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", server.base_url)
    return server
