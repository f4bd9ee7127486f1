"""A 1,000-job sweep's live grid in a real JupyterLab and Chromium: is the page responsive,
and what does the kernel hold?

JupyterLab starts on a free loopback port (as the browser tests start it) with a notebook
that serves the ``chaos`` handler on a local endpoint (4 workers) and runs
``rp_jupyter.sweep("chaos", {"sleep": 0.05}, i=range(1000))``.  While the grid is live,
the page records the time between animation frames (``requestAnimationFrame``), long tasks
(over 50 ms on the page's main thread) and the bytes the kernel's websocket delivers; the
kernel's resident memory (RSS) is sampled from outside.  The run ends when the grid has
turned into its static table.

Before that, in this process, the kernel's side alone: one grid over 1,000 jobs driven by
the benchmark (no server, a recording frontend), each ``tick`` timed when nothing changed,
when one job changed, when 100 changed, and when the header is due (its cost note once a
second).

Targets: the page stays responsive (frames near 16.7 ms, no long freezes); kernel RSS
under 200 MB.

Run from the repository root (needs ``/usr/bin/chromium``)::

    .venv/bin/python bench/sweep_browser.py
    .venv/bin/python bench/sweep_browser.py --jobs 300
"""

from __future__ import annotations

import argparse
import itertools
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import format_table, write_result  # noqa: E402

NOTEBOOK = "sweep-1000.ipynb"
SWEEP_TIMEOUT_S = 600

FRAMES_JS = """() => {
  window.__frames = []; window.__long = []; window.__marks = {};
  let last = performance.now();
  const step = t => { window.__frames.push([t, t - last]); last = t;
                      if (!window.__stopFrames) requestAnimationFrame(step); };
  requestAnimationFrame(step);
  try {
    new PerformanceObserver(list => { for (const e of list.getEntries())
      window.__long.push([e.startTime, e.duration]); }).observe({type: 'longtask'});
  } catch (e) {}
  const marks = window.__marks;
  new MutationObserver(() => {
    const now = performance.now();
    if (!marks.grid && document.querySelector('.jp-Notebook .widget-button')) marks.grid = now;
    if (marks.grid && !marks.static
        && document.querySelectorAll('.jp-Notebook .jp-Cell')[3]
             .querySelector('.jp-Cell-outputArea table')) marks.static = now;
  }).observe(document.body, {childList: true, subtree: true});
}"""


def notebook_cells(jobs: int) -> list[str]:
    return [
        "%load_ext rp_jupyter",
        "%runpod local chaos --workers 4",
        "import os\nprint('kernel pid', os.getpid())",
        "import rp_jupyter\n"
        f"s = rp_jupyter.sweep('chaos', {{'sleep': 0.05}}, i=range({jobs}))",
    ]


def write_notebook(root: Path, jobs: int) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in notebook_cells(jobs)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, root / NOTEBOOK)


class MemorySampler(threading.Thread):
    """The kernel's RSS every 0.1 s until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        import psutil

        self.process = psutil.Process(pid)
        self.samples: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(self.process.memory_info().rss)
            self.stop.wait(0.1)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def kernel_ticks(jobs: int) -> list[dict]:
    """Milliseconds per grid tick, in this process, with jobs the benchmark drives."""
    import os

    os.environ.setdefault("RP_JUPYTER_HOME", tempfile.mkdtemp(prefix="rp-bench-grid-"))
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    import rp_jupyter.notebook  # noqa: F401  (the cost parts, as in a kernel)
    from rp_jupyter.api.models import JobStatus
    from rp_jupyter.jobs.endpoint import Endpoint
    from rp_jupyter.notebook.live_view import close_widgets
    from rp_jupyter.notebook.sweep import Sweep
    from rp_jupyter.notebook.sweep_inputs import parameter_grid
    from rp_jupyter.notebook.sweep_view import COMPACT_EVERY, HEADER_EVERY, SweepGrid
    from rp_jupyter.notebook.ticker import ticker
    from tests.notebook.fake_jobs import driven_job
    from tests.notebook.recording import install_display_recorder, recording_comms

    config = Config()
    config.HistoryAccessor.enabled = False
    shell = InteractiveShell.instance(config=config)
    sweep = Sweep(Endpoint("bench", base_url="http://127.0.0.1:9/v2"), {"x": 1},
                  parameter_grid({"i": range(jobs)}))
    for item in sweep.items:
        item.job = driven_job(f"bench-{item.index:04d}-aaaa-bbbb", "bench")
    results = []
    with recording_comms() as recorder:
        install_display_recorder(shell, recorder)
        grid = SweepGrid(sweep)
        grid.show()
        ticker().discard(grid)
        clock = [time.monotonic() + 1.0]
        grid.tick(clock[0])
        moved = itertools.count()

        def case(name: str, changes: int, step: float) -> None:
            times, sent = [], len(recorder.updates())
            for _ in range(40):
                for _ in range(changes):
                    sweep.items[next(moved) % jobs].job._apply_status(JobStatus.IN_PROGRESS)
                clock[0] += step
                started = time.perf_counter()
                grid.tick(clock[0])
                times.append((time.perf_counter() - started) * 1000)
            results.append({"case": name, "jobs changed per tick": changes,
                            "median ms": statistics.median(times),
                            "max ms": max(times),
                            "messages per tick": (len(recorder.updates()) - sent) / 40})

        case("nothing changed", 0, 0.05)
        case("one job changed", 1, COMPACT_EVERY)
        case("100 jobs changed", 100, COMPACT_EVERY)
        case("header due (cost note of 1,000 jobs)", 0, HEADER_EVERY)
        for widget in close_widgets(grid.box):
            widget.close()
    return results


def run(jobs: int) -> dict:
    from playwright.sync_api import expect, sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.e2e.test_browser import CELL_TIMEOUT_MS, Lab, LabNotebook

    work = Path(tempfile.mkdtemp(prefix="rp-bench-sweep-"))
    root = work / "root"
    root.mkdir()
    write_notebook(root, jobs)
    lab = Lab(root, work / "home", work / "jupyterlab.log")
    received = {"frames": 0, "bytes": 0, "on": False}

    def on_frame(payload) -> None:
        if received["on"]:
            received["frames"] += 1
            received["bytes"] += len(payload)

    try:
        lab.wait_ready()
        lab.start_kernel_for(NOTEBOOK)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch_persistent_context(
                str(work / "profile"), executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1000})
            try:
                page = browser.pages[0] if browser.pages else browser.new_page()
                page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
                page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}")
                expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
                       ).to_be_visible(timeout=CELL_TIMEOUT_MS)
                cells = notebook_cells(jobs)
                expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(len(cells))
                notebook = LabNotebook(page, [("code", source) for source in cells])
                notebook.run(2)
                pid = int(re.search(r"kernel pid (\d+)", notebook.output_text(2)).group(1))
                sampler = MemorySampler(pid)
                sampler.start()
                time.sleep(1.0)  # a baseline before the sweep
                before = max(sampler.samples)
                page.evaluate(FRAMES_JS)
                received["on"] = True
                started = time.monotonic()
                notebook.run(3)  # returns once the cell is done; the grid goes on live
                output = notebook.cell(3).locator(".jp-Cell-outputArea")
                page.wait_for_timeout(3000)
                notebook.cell(3).screenshot(path=str(work / "sweep-live.png"))
                expect(output.locator("table")).to_have_count(1, timeout=SWEEP_TIMEOUT_S * 1000)
                seconds = time.monotonic() - started
                received["on"] = False
                page.wait_for_timeout(500)  # frames after the static table is in
                page.evaluate("() => { window.__stopFrames = true; }")
                frames = page.evaluate("() => window.__frames")[1:]  # [time, delta]
                long_tasks = page.evaluate("() => window.__long")  # [start, duration]
                marks = page.evaluate("() => window.__marks")
                sampler.stop.set()
                sampler.join()
                counts = notebook.cell(3).locator(".jp-Cell-outputArea").inner_text()
            finally:
                browser.close()
    finally:
        lab.stop()
    mib = 1024 * 1024
    grid_at = marks.get("grid", 0.0)
    static_at = marks.get("static", float("inf"))
    phases = {  # frames while the grid is live; around the static table replacing it
        "live grid": [d for t, d in frames if grid_at + 1000 <= t - d and t <= static_at],
        "whole run": [d for _t, d in frames],
    }
    result: dict = {"jobs": jobs, "sweep seconds": seconds,
                    "live grid seconds": (static_at - grid_at) / 1000}
    for name, deltas in phases.items():
        longs = [d for s, d in long_tasks
                 if name == "whole run" or grid_at + 1000 <= s <= static_at]
        result.update({
            f"{name}: frames": len(deltas),
            f"{name}: median frame ms": statistics.median(deltas) if deltas else None,
            f"{name}: p95 frame ms": percentile(deltas, 0.95) if deltas else None,
            f"{name}: longest frame ms": max(deltas) if deltas else None,
            f"{name}: long tasks": len(longs),
            f"{name}: long task ms": sum(longs),
        })
    result.update({
        "websocket messages": received["frames"],
        "websocket MB": received["bytes"] / mib,
        "kernel RSS before MB": before / mib,
        "kernel RSS peak MB": max(sampler.samples) / mib,
        "completed": bool(re.search(rf"COMPLETED\s+{jobs}\b", counts)),
        "screenshot": str(work / "sweep-live.png"),
    })
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    ticks = kernel_ticks(args.jobs)
    columns = ["case", "jobs changed per tick", "median ms", "max ms", "messages per tick"]
    print(format_table(columns, [[f"{r[c]:.2f}" if isinstance(r[c], float) else r[c]
                                  for c in columns] for r in ticks]))
    print()
    result = run(args.jobs)
    rows = [[name, f"{value:.1f}" if isinstance(value, float) else value]
            for name, value in result.items()]
    print(format_table(["measure", "value"], rows))
    verdict = "met" if result["kernel RSS peak MB"] < 200 else "NOT met"
    print(f"target: kernel RSS under 200 MB: {verdict}")
    path = write_result("sweep_browser", {**result, "kernel ticks": ticks})
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
