"""Helpers for magic tests: run cells in a real IPython shell and capture what they print.

The fixtures (``ip``, ``server``, ``local``) are in ``conftest.py``."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

from IPython.core.interactiveshell import InteractiveShell

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


def total_requests(server: LocalServer) -> int:
    return sum(h.request_count() for h in server.endpoints.values())
