"""Finding processes the test session started and left running.

The session puts a unique token in its environment before any test runs, so every process
started from it (servers' workers, kernels, browsers, scripts) carries the token in
``/proc/PID/environ``.  A process forked without ``exec`` keeps the environment block the
test process started with, which lacks the token: such a fork is recognised by having this
process's exact command line and original environment.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

MARK_ENV = "RPJ_TESTS_SESSION"  # a name the browser test keeps in the lab environment
#: how long processes being stopped may take to go before they count as left behind
GRACE = float(os.environ.get("RP_JUPYTER_LEAK_GRACE", "10"))

_PROC = Path("/proc")
_own: dict[str, bytes] = {}


def mark_test_session() -> str:
    """Give this process (and so every child) a fresh session token; returns it."""
    _own["environ"] = _read(_PROC / "self" / "environ") or b""
    _own["cmdline"] = _read(_PROC / "self" / "cmdline") or b""
    token = uuid.uuid4().hex
    os.environ[MARK_ENV] = token
    _own["token"] = token.encode()
    return token


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} (parent {self.ppid}): {self.command[:300]}"

    def kill(self) -> None:
        for kill in (lambda: os.killpg(self.pid, signal.SIGKILL),
                     lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                kill()
            except OSError:
                pass


def processes_left_behind(grace: float = GRACE) -> list[Process]:
    """Marked processes still alive (zombies do not count) after up to ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        found = _marked_processes()
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _marked_processes() -> list[Process]:
    if "token" not in _own or not _PROC.is_dir():
        return []
    needle = f"{MARK_ENV}=".encode() + _own["token"]
    me = os.getpid()
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        environ = _read(entry / "environ")
        if environ is None:
            continue
        cmdline = _read(entry / "cmdline") or b""
        ours = needle in environ.split(b"\0") or (
            environ == _own["environ"] and cmdline == _own["cmdline"])
        if not ours:
            continue
        state, ppid = _state_and_parent(entry)
        if state in (None, "Z", "X"):
            continue
        command = cmdline.replace(b"\0", b" ").decode("utf-8", "replace").strip()
        found.append(Process(int(entry.name), ppid, command or "?"))
    return found


def _state_and_parent(entry: Path) -> tuple[str | None, int]:
    stat = _read(entry / "stat")
    if stat is None:
        return None, 0
    fields = stat.decode("utf-8", "replace").rsplit(")", 1)[-1].split()
    return fields[0], int(fields[1])


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
