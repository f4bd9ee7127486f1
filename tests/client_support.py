"""Helpers for the client and engine tests (tests/api, tests/jobs): local endpoints on free
loopback ports, waiting on a condition with a deadline, and child Python processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from rp_jupyter.local import LocalEndpoint
from tests.waiting import wait_for  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parent.parent
#: policy bounds small enough to test ttl and execution timeouts in well under a second
FAST_POLICY = {"min_ttl": 0.05, "min_execution_timeout": 0.05}
CHAOS_PLAIN = "rp_jupyter.local.examples.chaos:plain"


def start_local(handler: Any = "chaos", **settings: Any) -> LocalEndpoint:
    """A running local endpoint on a free loopback port, its workers ready."""
    endpoint = LocalEndpoint(handler, **settings).start()
    try:
        endpoint.wait_ready(30.0)
    except BaseException:
        endpoint.stop()
        raise
    return endpoint


def statuses(server: LocalEndpoint, op: str | None = None) -> list[int | None]:
    """HTTP status codes the server answered, in order (``None``: connection dropped)."""
    return [entry["status_code"] for entry in server.request_log
            if op is None or entry["op"] == op]


def server_job_count(server: LocalEndpoint) -> int:
    """Jobs the server has accepted (whatever became of them)."""
    return len({e["job_id"] for e in server.request_log
                if e["op"] in ("run", "runsync") and e["job_id"]})


def spawn_python(code: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Start ``python -c code args...`` with the repository importable; stdout is piped."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args],
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=str(ROOT))


def run_python(code: str, env: dict[str, str], *args: str, timeout: float = 120) -> Any:
    """Run ``code`` in a new process; return the JSON it prints on its last line."""
    process = spawn_python(code, env, *args)
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"child failed ({process.returncode}):\n{err}"
    return json.loads(out.strip().splitlines()[-1])
