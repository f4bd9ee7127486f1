"""Interrupting a blocking ``%%runpod run`` cell in a real kernel (jupyter_client sends the
interrupt as JupyterLab's stop button does): the cell shows one line saying what was
cancelled, and no traceback through rp_jupyter."""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path

import pytest

from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def kernel(tmp_path):
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "RP_JUPYTER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.startswith("RUNPOD_")}
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        yield km, kc
    finally:
        kc.execute("%runpod local --stop", allow_stdin=False)
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def run(kc, code: str, *, allow_stdin: bool = False, timeout: float = 60.0) -> list[dict]:
    """Execute ``code`` and return its iopub messages up to idle."""
    msg_id = kc.execute(code, allow_stdin=allow_stdin)
    return collect(kc, msg_id, timeout)


def collect(kc, msg_id: str, timeout: float, until=None) -> list[dict]:
    messages, deadline = [], time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"the cell did not finish: {[m['msg_type'] for m in messages]}"
        try:
            msg = kc.get_iopub_msg(timeout=left)
        except queue.Empty:
            continue
        if until is not None and until(msg):  # widget updates come from another thread
            return messages
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages


def shown_text(messages: list[dict]) -> str:
    parts = []
    for msg in messages:
        content = msg["content"]
        if msg["msg_type"] == "stream":
            parts.append(content["text"])
        elif msg["msg_type"] == "error":
            parts.append("\n".join(content["traceback"]))
    return "".join(parts)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("allow_stdin", [False, True], ids=["headless", "live"])
def test_interrupting_a_blocking_cell_shows_one_line_and_no_traceback(kernel, allow_stdin):
    km, kc = kernel
    setup = run(kc, "%load_ext rp_jupyter\n%runpod local chaos", timeout=120)
    assert "is running" in shown_text(setup), shown_text(setup)
    msg_id = kc.execute('%%runpod run chaos --wait\n{"chunks": 300, "interval": 0.2}',
                        allow_stdin=allow_stdin)
    # wait until the job streams (its panel counts chunks), then press "stop"
    collect(kc, msg_id, 60, until=lambda m: "chunks<" in str(m["content"]))
    km.interrupt_kernel()
    messages = collect(kc, msg_id, 60)
    reply = kc.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=30)
    assert reply["content"]["status"] == "error"  # a "Run all" stops at this cell
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["ename"] == "KeyboardInterrupt"
    assert len(errors[0]["traceback"]) == 1, errors[0]["traceback"]
    line = errors[0]["traceback"][0]
    assert line.startswith("Interrupted: cancelled job ") and "on endpoint chaos" in line
    text = shown_text(messages)
    assert "Traceback" not in text and "rp_jupyter" not in text, text
    status = run(kc, "print(get_ipython().magics_manager.registry['RunpodMagics']"
                     ".session_jobs[-1].status)")
    assert shown_text(status).strip() == "CANCELLED"


@pytest.mark.timeout(180)
def test_interrupting_a_sync_cell_shows_one_line_and_no_traceback(kernel, tmp_path):
    from rp_jupyter.jobs.journal import JobJournal

    km, kc = kernel
    run(kc, "%load_ext rp_jupyter\n%runpod local chaos", timeout=120)
    msg_id = kc.execute('%%runpod run chaos --sync\n{"sleep": 60}', allow_stdin=False)
    journal = JobJournal(tmp_path / "home" / "journal.sqlite3")
    try:  # the job is journaled before its request is sent: then press "stop"
        wait_for(lambda: journal.list(limit=1), 60, what="the job in the journal")
    finally:
        journal.close()
    km.interrupt_kernel()
    messages = collect(kc, msg_id, 60)
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1, errors
    assert errors[0]["traceback"][0].startswith("Interrupted")
    text = shown_text(messages)
    assert "Traceback" not in text and "rp_jupyter/" not in text, text


@pytest.mark.timeout(180)
@pytest.mark.parametrize("allow_stdin", [False, True], ids=["headless", "live"])
def test_interrupting_a_chat_cell_shows_one_line_and_cancels_the_reply(kernel, allow_stdin):
    km, kc = kernel
    setup = run(kc, "%load_ext rp_jupyter\n%runpod local llm", timeout=120)
    assert "is running" in shown_text(setup), shown_text(setup)
    msg_id = kc.execute("%%runpod chat --wait --max-tokens 2000 --param token_delay=0.05\n"
                        "Tell me a long story", allow_stdin=allow_stdin)
    # wait until the reply streams (its footer says so), then press "stop"
    collect(kc, msg_id, 60, until=lambda m: "streaming…" in str(m["content"]))
    km.interrupt_kernel()
    messages = collect(kc, msg_id, 60)
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert len(errors) == 1 and len(errors[0]["traceback"]) == 1, errors
    line = errors[0]["traceback"][0]
    assert line.startswith("Interrupted: cancelled ") and "on endpoint llm" in line, line
    text = shown_text(messages)
    assert "Traceback" not in text and "rp_jupyter/" not in text, text
    status = run(kc, "print(get_ipython().magics_manager.registry['RunpodMagics']"
                     ".session_jobs[-1].status)")
    assert shown_text(status).strip() == "CANCELLED"
