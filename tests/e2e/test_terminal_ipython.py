"""Plain terminal IPython (the ``ipython`` program, no kernel): a vLLM stream prints as
running text as it arrives, then the closing line and the token footer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.workers import script
from tests.workers.fake_text import tokens

pytestmark = pytest.mark.e2e

CELL = ('{"prompt": "Tell me", "stream": true, "delay": 0.4, '
        '"sampling_params": {"max_tokens": 40}}')


def test_a_vllm_stream_prints_as_running_text_in_terminal_ipython(tmp_path):
    session = tmp_path / "session.ipy"
    session.write_text(
        "%load_ext rp_jupyter\n"
        f"%runpod local {script('vllm')}\n"
        f"get_ipython().run_cell({'%%runpod run' + chr(10) + CELL!r})\n"
        "%runpod local --stop\n"
    )
    env = {**os.environ, "RP_JUPYTER_HOME": str(tmp_path / "home"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    ipython = Path(sys.executable).with_name("ipython")
    process = subprocess.Popen([str(ipython), "--no-banner", "--colors=NoColor", str(session)],
                               env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    pieces: list[tuple[float, str]] = []  # what arrived, when
    try:
        assert process.stdout is not None
        while True:
            data = os.read(process.stdout.fileno(), 65536)
            if not data:
                break
            pieces.append((time.monotonic(), data.decode()))
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = "".join(piece for _, piece in pieces)
    reply = "".join(tokens(40))
    lines = [line for line in text.splitlines() if not line.startswith("DEBUG")]
    assert reply in lines, text  # one running text, not a JSON line per chunk
    assert "choices" not in text
    done = lines.index(reply) + 1
    assert lines[done].startswith("runpod: COMPLETED")
    assert lines[done + 1].startswith("[2 tokens in · 40 out · ")
    so_far, first_words, completed = "", None, None
    for at, piece in pieces:
        so_far += piece
        if first_words is None and "\nThe" in so_far:
            first_words = at
        if completed is None and "runpod: COMPLETED" in so_far:
            completed = at
    assert completed - first_words > 0.5  # the first words showed while it still ran
