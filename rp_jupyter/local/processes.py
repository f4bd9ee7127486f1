"""Starting and stopping worker processes (the operating-system side of supervision).

A worker is either spawned (``python -m rp_jupyter.local.worker_main``, which loads its
handler by name) or forked from this process, so it inherits a handler that only
exists here: one defined in ``__main__``, such as a notebook cell.

Every worker leads its own process group, and is ended with the whole group, so what a
handler started (a shell command, a model server) ends with it.  No worker gets the
client's keys: its environment holds only the local endpoint's own key.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from rp_jupyter.env_names import (
    CLIENT_KEY_ENVS,
    LOCAL_WORKER_ENV,
    PYTHONPATH_ENV,
    WORKER_API_KEY_ENV,
)

_SPAWN_LOCK = threading.Lock()
# Keys of the client side (the hosted API's key, the local server's own setting,
# CLIENT_KEY_ENVS) are never handed to a handler; a worker gets the endpoint's key as
# RUNPOD_AI_API_KEY only.


def worker_environment() -> dict[str, str]:
    """This process's environment without any key (see :data:`CLIENT_KEY_ENVS`)."""
    env = dict(os.environ)
    for name in CLIENT_KEY_ENVS:
        env.pop(name, None)
    return env


def start_worker_process(config: dict[str, Any], api_key: str | None,
                         func: Callable[..., Any] | None = None) -> Any:
    """Start one worker for ``config``: forked when ``func`` is given, else spawned.

    Starts are serialised: a fork during another start would inherit that start's pipes.
    """
    with _SPAWN_LOCK:
        if func is not None:
            return ForkedWorker({**config, "api_key": api_key}, func)
        return _spawn(config, api_key)


def _spawn(config: dict[str, Any], api_key: str | None) -> subprocess.Popen:
    env = worker_environment()
    env[LOCAL_WORKER_ENV] = json.dumps(config)
    env[PYTHONPATH_ENV] = _python_path()
    if api_key:
        env[WORKER_API_KEY_ENV] = api_key
    channel = config.get("channel_fd")
    return subprocess.Popen([sys.executable, "-m", "rp_jupyter.local.worker_main"], env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            pass_fds=() if channel is None else (channel,))


def _python_path() -> str:
    entries = [p or os.getcwd() for p in sys.path]
    current = os.environ.get(PYTHONPATH_ENV)
    if current:
        entries.append(current)
    return os.pathsep.join(dict.fromkeys(e for e in entries if e))


class RunpodWorkerProcess:
    """A handler script run as it is, ``python worker.py`` (``python -m module``), as a
    runpod-python worker pulling jobs through the worker protocol.

    It runs in its own process group, so ending it also ends the heartbeat process
    runpod-python starts; what it writes to stderr passes through, and the last of it
    is kept for the message when it fails to start.
    """

    TAIL = 2000

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.command = command
        self._tail = ""
        self._proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self._proc.pid
        self._reader = threading.Thread(target=self._read_stderr, daemon=True,
                                        name=f"rp-local-stderr-{self.pid}")
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for raw in iter(self._proc.stderr.readline, b""):
            text = raw.decode("utf-8", "replace")
            self._tail = (self._tail + text)[-self.TAIL:]
            try:
                sys.stderr.write(text)
                sys.stderr.flush()
            except (OSError, ValueError):
                pass

    def tail(self) -> str:
        """The last things it wrote to stderr, on one line."""
        self._reader.join(1.0)
        return " ".join(self._tail.split())[-self.TAIL:]

    def kill(self) -> None:
        if not kill_group(self.pid):
            kill_process(self._proc)

    def wait(self) -> int:
        code = self._proc.wait()
        kill_group(self.pid)  # children it left behind (runpod-python's heartbeat) go with it
        return code


def runpod_worker_command(target: str) -> list[str]:
    """How the platform would start the script: ``python file.py`` or ``python -m module``."""
    from rp_jupyter.local.scripts import split_target

    source, _, is_file = split_target(target)
    return [sys.executable, source] if is_file else [sys.executable, "-m", source]


def start_runpod_worker(target: str, worker_env: dict[str, str]) -> RunpodWorkerProcess:
    """Start ``target`` unchanged with ``worker_env`` added to this environment (less the
    client's keys)."""
    env = worker_environment()
    env.pop(LOCAL_WORKER_ENV, None)
    env.update(worker_env)
    env[PYTHONPATH_ENV] = _python_path()
    with _SPAWN_LOCK:
        return RunpodWorkerProcess(runpod_worker_command(target), env)


class ForkedWorker:
    """A worker forked from this process, so it inherits a handler defined in ``__main__``."""

    def __init__(self, config: dict[str, Any], func: Callable[..., Any]) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            _forked_child(config, func)
        self.pid = pid

        self.reaped = False

    def kill(self) -> None:
        if self.reaped:  # its pid may belong to another process by now
            return
        if not kill_group(self.pid):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        kill_group(self.pid)  # what its handler started goes with it (the group outlives it)
        self.reaped = True
        return os.waitstatus_to_exitcode(status)


def _forked_child(config: dict[str, Any], func: Callable[..., Any]) -> None:  # pragma: no cover
    """First code of a forked worker: let go of the server's sockets and streams, then work."""
    code = 1
    try:
        os.setsid()
        for name in CLIENT_KEY_ENVS:  # the fork inherits this process's environment
            os.environ.pop(name, None)
        _close_inherited_fds(keep=config.get("channel_fd"))
        try:  # the fork may have happened in a thread that runs an event loop
            asyncio.events._set_running_loop(None)
        except Exception:
            pass
        for name in ("stdout", "stderr"):  # a kernel's streams do not work in a fork
            original = getattr(sys, f"__{name}__", None)
            if original is None:
                original = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the child
            setattr(sys, name, original)
        from rp_jupyter.local.worker_main import run_worker

        code = run_worker(config, func)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _close_inherited_fds(keep: int | None = None) -> None:
    """Close every socket and pipe the child inherited but ``keep`` (its end of the
    channel to the server): the server's listener and connections must close when the
    server closes them, and a pipe end held here could keep another thread's subprocess
    start waiting for EOF."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd < 3 or fd == keep:
            continue
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode):
                os.close(fd)
        except OSError:
            pass


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"exit code {code}, killed by {name}"
    return f"exit code {code}"


def kill_group(pid: int) -> bool:
    """SIGKILL the process group ``pid`` leads (a worker and everything it started);
    ``False`` when there is no such group left."""
    try:
        os.killpg(pid, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError, OSError):
        return False


def kill_process(proc: Any) -> None:
    """End a worker and its process group (it leads one: it runs in its own session).
    Forked and runpod-python workers end their group themselves; a spawned one's group is
    ended here unless it has been reaped (its pid could then be another's)."""
    try:
        proc.kill()
    except (ProcessLookupError, OSError, ValueError, AttributeError):
        pass
    if isinstance(proc, subprocess.Popen) and proc.returncode is None:
        kill_group(proc.pid)


def wait_process(proc: Any) -> int | None:
    """Wait for a worker to exit, then end what it left running in its process group."""
    try:
        code = proc.wait()
    except ChildProcessError:
        return None
    if isinstance(proc, subprocess.Popen):
        kill_group(proc.pid)  # the group outlives its leader while members remain
    return code
