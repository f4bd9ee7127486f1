"""Fixtures for magic tests: a real IPython shell with rp_jupyter loaded, and local endpoints."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from rp_jupyter.local import LocalServer


@dataclass
class CellRun:
    result: Any
    stdout: str
    stderr: str

    @property
    def error(self) -> BaseException | None:
        return self.result.error_in_exec or self.result.error_before_exec

    @property
    def value(self) -> Any:
        return self.result.result


class Shell:
    """A real ``InteractiveShell`` with the extension loaded; runs cells and captures output."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell

    @property
    def user_ns(self) -> dict[str, Any]:
        return self.shell.user_ns

    @property
    def magics(self) -> Any:
        return self.shell.magics_manager.registry["RunpodMagics"]

    def run(self, source: str) -> CellRun:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            result = self.shell.run_cell(source, store_history=True)
            sys.stdout.flush()
        return CellRun(result, out.getvalue(), err.getvalue())


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


def total_requests(server: LocalServer) -> int:
    return sum(h.request_count() for h in server.endpoints.values())
