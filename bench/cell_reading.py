"""What reading a ``%%runpod run`` cell costs: ``parse_cell`` on large bodies.

Each placeholder is evaluated once, after a scan that knows strings and comments, and the
shape of a JSON cell is checked before anything runs, so a JSON cell is parsed twice when
it holds placeholders.  This measures that price on the bodies people paste:

- a 1 MB JSON object, with no placeholder and with 1,000 of them;
- a 1 MB Python dict (single quotes, comments), with 1,000 placeholders;
- a 1 MB text prompt with 1,000 placeholders.

Target: <= 100 ms for each 1 MB body (well under the time a cell takes to send it).
Run: ``.venv/bin/python bench/cell_reading.py``; prints a table, writes
``bench/results/cell_reading.json``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import format_table, write_result

SIZE = 1_000_000
HOLES = 1_000
REPEATS = 5


def bodies() -> dict[str, str]:
    per = SIZE // HOLES
    pad = "lorem ipsum dolor sit amet " * (per // 27)
    plain = json.dumps({f"k{i}": pad for i in range(HOLES)})
    holed = json.dumps({f"k{i}": pad + "{{ word }}" for i in range(HOLES)})
    python = "{\n" + "".join(f"  'k{i}': '{pad} {{{{ word }}}}',  # it's item {i}\n"
                             for i in range(HOLES)) + "}"
    text = "".join(f"{pad} {{{{ word }}}}\n" for _ in range(HOLES))
    return {"JSON, no placeholder": plain, f"JSON, {HOLES:,} placeholders": holed,
            f"Python, {HOLES:,} placeholders": python, f"text, {HOLES:,} placeholders": text}


def best_of(fn: Any) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from rp_jupyter.notebook.cell_input import parse_cell

    namespace = {"word": "otter"}
    rows, results = [], {}
    for name, body in bodies().items():
        seconds = best_of(lambda body=body: parse_cell(body, namespace))
        results[name] = {"bytes": len(body), "ms": round(seconds * 1000, 2)}
        rows.append([name, f"{len(body) / 1e6:.2f}", seconds * 1000,
                     "ok" if seconds <= 0.1 else "over"])
    print(format_table(["body", "MB", "ms (best of 5)", "target <= 100 ms"], rows))
    print(f"\nwrote {write_result('cell_reading', {'results': results})}")


if __name__ == "__main__":
    main()
