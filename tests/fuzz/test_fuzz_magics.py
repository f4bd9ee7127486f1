"""Fuzzing the magics in a real IPython shell against the local endpoint: cells, flag lines
and placeholders.  Every outcome is a job or one ``UsageError``; never a traceback, never a
request for a refused cell, never the secret in what is shown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from rp_jupyter.jobs.journal import JobJournal
from rp_jupyter.local import LocalServer
from tests.fuzz.strategies import (
    NAMESPACE_SOURCE,
    ODD_VALUES,
    SECRET,
    Example,
    command_lines,
    run_cells,
)
from tests.fuzz.tally import count, examples
from tests.notebook.magic_shell import Shell, total_requests


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        srv.add_endpoint("echo", "echo", workers=1, rate_limits="off")
        srv.endpoint("echo").wait_ready(30)
        yield srv


@pytest.fixture
def shell(server, monkeypatch) -> Iterator[Shell]:
    monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", server.base_url)
    config = Config()
    config.HistoryAccessor.enabled = False
    ip = InteractiveShell.instance(config=config)
    ip.displayhook.flush = lambda: None
    ip.extension_manager.load_extension("rp_jupyter")
    try:
        yield Shell(ip)
    finally:
        ip.extension_manager.unload_extension("rp_jupyter")
        InteractiveShell.clear_instance()


def shown_value(value: Any) -> str:
    if value is None:
        return ""
    html = getattr(value, "_repr_html_", None)
    return repr(value) + (html() if callable(html) else "")


def journal_bytes() -> bytes:
    journal = JobJournal.open()
    journal.flush()
    return b"".join(p.read_bytes() for p in journal.path.parent.glob("journal.sqlite3*"))


def check(shell: Shell, server: LocalServer, example: Example, prop: str,
          namespace: dict[str, Any] | None = None) -> None:
    """Run one example, count what happened, and assert the four zeros."""
    shell.run(NAMESPACE_SOURCE)  # the namespace as the strategies expect it
    shell.user_ns.update(namespace or {})
    shell.magics.default_endpoint = None
    shell.magics.set_by.clear()
    requests, jobs = total_requests(server), JobJournal.open().count()
    run = shell.run(example.source)
    error = run.error
    printed = run.stdout + run.stderr
    message = str(error) if error is not None else ""
    shown = printed + message + shown_value(run.value)
    if error is None:
        for job in list(shell.magics.session_jobs):
            assert job.wait(30)
            shown += repr(job.output) + repr(job.input)
    sent = total_requests(server) - requests
    leaked = SECRET in shown or SECRET.encode() in journal_bytes()
    traceback = "Traceback" in printed or not (error is None or isinstance(error, UsageError))
    count(prop, examples=1, refused=error is not None, accepted=error is None,
          requests_for_refused=sent if error is not None else 0, tracebacks=traceback,
          secrets_shown=leaked)

    assert not traceback, f"{type(error).__name__}: {error}\n{printed[-2000:]}"
    assert not leaked, "the secret was shown"
    message.encode("utf-8")  # printable whatever the input held
    if error is not None:
        assert sent == 0, f"refused ({message}) but sent {sent} request(s)"
        assert JobJournal.open().count() == jobs, "refused but journaled"
        assert "\nHint: " in message, f"no hint: {message}"
    else:
        assert not example.bad, f"a cell with a defect ({example.why}) was accepted"


@settings(max_examples=examples(60))
@given(example=run_cells())
def test_fuzzed_run_cells_are_a_job_or_one_usage_error(shell, server, example):
    check(shell, server, example, "cells")


@settings(max_examples=examples(40))
@given(example=command_lines())
def test_fuzzed_command_lines_are_one_usage_error_and_send_nothing(shell, server, example):
    assert example.bad
    check(shell, server, example, "flag lines")


PLACEMENTS = ['{"a": {{ v }}, "t": {{ token }}}', '{"a": "x {{ v }} y"}', "say {{ v }}",
              "{'a': {{ v }}, 't': token}", '[{"a": {{ v }}}]', '{"{{ v }}": 1}']


@settings(max_examples=examples(50))
@given(value=ODD_VALUES, placement=st.sampled_from(PLACEMENTS),
       flags=st.sampled_from(["--wait", "--dry-run", "--format python --wait",
                              "--format json --dry-run", "--no-expand --dry-run"]))
def test_fuzzed_placeholder_values_never_break_a_cell(shell, server, value, placement, flags):
    example = Example(f"%%runpod run echo {flags}\n{placement}", bad=False)
    check(shell, server, example, "placeholders", {"v": value})
