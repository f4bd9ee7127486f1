"""Shared output for benchmarks: a plain-text table on stdout and a JSON result file."""

from __future__ import annotations

import json
import pathlib
import platform
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results"


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned."""
    cells = [[str(c) for c in columns]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = []
    for n, row in enumerate(cells):
        parts = [cell.rjust(w) if n and _numeric(cell) else cell.ljust(w)
                 for cell, w in zip(row, widths, strict=True)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    return "" if value is None else str(value)


def _numeric(text: str) -> bool:
    return text == "n/a" or text.replace(",", "").replace(".", "", 1).isdigit()


def write_result(name: str, data: dict[str, Any]) -> pathlib.Path:
    """Write ``bench/results/{name}.json`` with the machine details added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **data,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def start_llm_server() -> tuple[subprocess.Popen, str]:
    """``rp-jupyter serve llm`` in its own process on a free port, without rate limits:
    the process and its base URL (``http://127.0.0.1:PORT/v2``)."""
    proc = subprocess.Popen([sys.executable, "-m", "rp_jupyter.local.cli", "serve", "llm",
                             "--port", "0", "--no-rate-limits"], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"RUNPOD_ENDPOINT_BASE_URL=(\S+)", line)
        if found:
            return proc, found.group(1)
    raise RuntimeError("the local endpoint did not start")


class ServedEndpoints:
    """Local endpoints served from a child process (``_serve_endpoints.py SPEC``, so the
    server's CPU does not share the benchmark's GIL), plus their ``/_local`` admin view.
    ``spec`` is ``{"api_key": ..., "endpoints": {ID: {"handler": ..., <settings>}}}``."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "_serve_endpoints.py"), json.dumps(spec)],
            stdout=subprocess.PIPE, text=True)
        self.base_url = (self.process.stdout.readline() if self.process.stdout else "").strip()
        if not self.base_url:
            raise RuntimeError("the local endpoint did not start")
        headers = {"Authorization": f"Bearer {spec['api_key']}"} if spec.get("api_key") else {}
        self.admin = httpx.Client(base_url=f"{self.base_url.removesuffix('/v2')}/_local",
                                  timeout=30, headers=headers)

    def job(self, endpoint: str, job_id: str) -> dict[str, Any]:
        return self.admin.get(f"/jobs/{endpoint}/{job_id}").json()

    def stats(self, endpoint: str) -> dict[str, Any]:
        return self.admin.get("/stats", params={"endpoint": endpoint}).json()

    def reset(self, endpoint: str) -> None:
        self.admin.post("/stats/reset", params={"endpoint": endpoint})

    def stop(self) -> None:
        self.admin.close()
        self.process.terminate()
        self.process.wait(30)
