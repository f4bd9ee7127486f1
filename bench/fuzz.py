"""The fuzz properties of ``tests/fuzz`` with many more examples, and what they saw.

Each property asserts the four zeros (no request sent for refused input, no traceback, no
secret in any output, no server 5xx); this runs them ``--scale`` times longer than the
suite does and prints the counts per property: examples tried, refused, accepted, and the
four numbers that must stay at zero.

    .venv/bin/python bench/fuzz.py [--scale 25]

Prints a table and writes ``bench/results/fuzz.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import format_table, write_result  # noqa: E402

ZEROS = ("requests_for_refused", "tracebacks", "secrets_shown", "server_5xx")


def run(scale: float) -> tuple[dict[str, dict[str, int]], int, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "tally.json"
        env = {**os.environ, "RP_JUPYTER_FUZZ_SCALE": str(scale),
               "RP_JUPYTER_FUZZ_REPORT": str(report),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "tests/fuzz"], cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - started
        tally = json.loads(report.read_text()) if report.exists() else {}
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return tally, done.returncode, seconds, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=25.0,
                        help="examples per property, times the suite's (default 25)")
    args = parser.parse_args()
    tally, code, seconds, summary = run(args.scale)
    rows = []
    for prop, seen in sorted(tally.items()):
        answered = sum(v for k, v in seen.items() if k.startswith("answered_"))
        rows.append([prop, seen.get("examples", 0),
                     seen.get("refused", seen.get("answered_4xx", 0)),
                     seen.get("accepted", answered - seen.get("answered_4xx", 0)),
                     *(seen.get(name, 0) for name in ZEROS)])
    print(format_table(["property", "examples", "refused", "accepted", "requests for refused",
                        "tracebacks", "secrets shown", "server 5xx"], rows))
    print(f"\npytest: {summary} ({seconds:.0f} s, scale {args.scale:g})")
    path = write_result("fuzz", {"scale": args.scale, "seconds": round(seconds, 1),
                                 "pytest": summary, "exit_code": code, "counts": tally})
    print(f"wrote {path.relative_to(ROOT)}")
    return code


if __name__ == "__main__":
    sys.exit(main())
