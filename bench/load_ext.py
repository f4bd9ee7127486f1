"""How much ``%load_ext rp_jupyter`` adds to an IPython start (target: <= 150 ms).

Each sample is a fresh process: a bare ``InteractiveShell`` start, and the same plus
loading the extension; the table gives medians over the runs.

    .venv/bin/python bench/load_ext.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BARE = "from IPython.core.interactiveshell import InteractiveShell; InteractiveShell.instance()"
LOADED = BARE.replace("InteractiveShell.instance()",
                      "InteractiveShell.instance().extension_manager.load_extension('rp_jupyter')")
IMPORT_ONLY = "import rp_jupyter"
NOTHING = "pass"
TARGET_MS = 150.0


def sample(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return (time.perf_counter() - start) * 1000


def median_ms(code: str, runs: int) -> float:
    sample(code)  # warm the file cache
    return statistics.median(sample(code) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    nothing, imported = median_ms(NOTHING, runs), median_ms(IMPORT_ONLY, runs)
    bare, loaded = median_ms(BARE, runs), median_ms(LOADED, runs)
    rows = [
        ("python -c pass", nothing),
        ("import rp_jupyter", imported),
        ("bare IPython shell", bare),
        ("IPython shell + %load_ext rp_jupyter", loaded),
    ]
    added = loaded - bare
    print(f"{'process (median of ' + str(runs) + ' runs)':<44} {'ms':>8}")
    for name, ms in rows:
        print(f"{name:<44} {ms:>8.1f}")
    print(f"{'%load_ext rp_jupyter adds':<44} {added:>8.1f}   (target <= {TARGET_MS:.0f})")
    print(f"{'import rp_jupyter adds':<44} {imported - nothing:>8.1f}")
    result = {"runs": runs, "median_ms": dict(rows), "load_ext_added_ms": added,
              "import_added_ms": imported - nothing, "target_ms": TARGET_MS,
              "meets_target": added <= TARGET_MS}
    out = Path(__file__).parent / "results" / "load_ext.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
