"""How much ``%load_ext rp_jupyter`` adds to an IPython start (target: <= 150 ms).

Every sample is a fresh process (a cold start of the extension).  It reports the time
spent inside ``load_extension`` (measured in that process, so it is not blurred by process
start-up noise), and, as a cross-check, whole-process times with and without the extension.

    .venv/bin/python bench/load_ext.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import format_table, write_result

SHELL = ("from IPython.core.interactiveshell import InteractiveShell; "
         "ip = InteractiveShell.instance()")
TIMED_LOAD = (SHELL + "; import time; t = time.perf_counter(); "
              "ip.extension_manager.load_extension('rp_jupyter'); "
              "print((time.perf_counter() - t) * 1000)")
LOADED = SHELL + "; ip.extension_manager.load_extension('rp_jupyter')"
TIMED_IMPORT = ("import time; t = time.perf_counter(); import rp_jupyter; "
                "print((time.perf_counter() - t) * 1000)")
TARGET_MS = 150.0


def inner_ms(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def process_ms(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return (time.perf_counter() - start) * 1000


def median(fn, code: str, runs: int) -> float:
    fn(code)  # warm the file cache
    return statistics.median(fn(code) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    load = median(inner_ms, TIMED_LOAD, runs)
    imported = median(inner_ms, TIMED_IMPORT, runs)
    bare = median(process_ms, SHELL, runs)
    loaded = median(process_ms, LOADED, runs)
    rows = [
        ("import rp_jupyter (in process)", imported),
        ("%load_ext rp_jupyter (in process)", load),
        ("process: bare IPython shell", bare),
        ("process: IPython shell + %load_ext rp_jupyter", loaded),
        ("process difference", loaded - bare),
    ]
    print(format_table([f"median of {runs} fresh processes", "ms"], rows))
    print(f"\n%load_ext rp_jupyter: {load:.1f} ms (target <= {TARGET_MS:.0f} ms)")
    out = write_result("load_ext", {
        "runs": runs, "median_ms": dict(rows), "load_ext_ms": load, "import_ms": imported,
        "target_ms": TARGET_MS, "meets_target": load <= TARGET_MS,
    })
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
