"""What a reader sees in a real browser, before and after the kernel is gone.

- Every demo notebook, run in JupyterLab, saved, its kernel shut down and the notebook
  reopened: no "Error displaying widget", no broken image, and no widget left in the file
  (the quickstart in Notebook 7 too).
- A panel follows its job through ``%runpod retry`` (notebook 02).
- The jobs table: badges whole, the output ending before the row's buttons; a sweep's
  header agreeing with its cards while it runs, with a Cancel per card; a replay.

Screenshots go to ``test-artifacts/`` (``saved-reopened-*.png``, ``jobs-table.png``,
``sweep-live.png``, ``replay-live.png``, ``live-panel.png``).
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.e2e.conftest import ARTIFACTS, NOTEBOOKS_DIR, notebook_paths
from tests.e2e.test_browser import (
    CELL_TIMEOUT_MS,
    MEASURE_IMAGE,
    Lab,
    LabNotebook,
    _get,
    _sample_until_completed,
)
from tests.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SCRATCH = "ux-checks.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab-root")
    for path in notebook_paths():
        shutil.copy(path, root / path.name)
    (root / "nb7").mkdir()
    shutil.copy(NOTEBOOKS_DIR / "01-quickstart.ipynb", root / "nb7" / "01-quickstart.ipynb")
    ARTIFACTS.mkdir(exist_ok=True)
    server = Lab(root, tmp_path_factory.mktemp("lab-home"), ARTIFACTS / "jupyterlab-saved.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _wait_idle(page, *, notebook7: bool = False) -> None:
    from playwright.sync_api import expect

    if notebook7:
        expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=CELL_TIMEOUT_MS)
    else:
        expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")) \
            .to_be_visible(timeout=CELL_TIMEOUT_MS)


def _url(lab: Lab, path: str, notebook7: bool) -> str:
    """The notebook's page: Notebook 7's own, or JupyterLab with only this notebook open
    (``reset`` drops the tabs an earlier test left in the workspace)."""
    return f"{lab.url}/notebooks/{path}" if notebook7 else f"{lab.url}/lab/tree/{path}?reset"


def open_notebook(browser, lab: Lab, path: str, *, notebook7: bool = False) -> LabNotebook:
    from playwright.sync_api import expect

    lab.start_kernel_for(path)
    page = browser.new_page()
    page.goto(_url(lab, path, notebook7))
    _wait_idle(page, notebook7=notebook7)
    nb = nbformat.read(lab.root / path, as_version=4)
    expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(len(nb.cells),
                                                                 timeout=CELL_TIMEOUT_MS)
    return LabNotebook(page, [(c.cell_type, c.source) for c in nb.cells])


def run_all(notebook: LabNotebook) -> None:
    last = max(i for i, (kind, _) in enumerate(notebook.sources) if kind == "code")
    notebook.run(last)


def save(notebook: LabNotebook, lab: Lab, path: str) -> nbformat.NotebookNode:
    """Save from the page (Ctrl+S) and wait until the file is written with the outputs."""
    before = (lab.root / path).stat().st_mtime_ns
    notebook.page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
    notebook.page.keyboard.press("Control+s")

    def written() -> nbformat.NotebookNode | None:
        if (lab.root / path).stat().st_mtime_ns == before:
            return None
        try:
            nb = nbformat.read(lab.root / path, as_version=4)
        except Exception:  # caught mid-write
            return None
        return nb if any(c.get("outputs") for c in nb.cells) else None

    return wait_for(written, 30, what=f"{path} to be saved")


def shut_down_kernels(lab: Lab) -> None:
    for kernel in running_kernels(lab):
        request = urllib.request.Request(f"{lab.url}/api/kernels/{kernel['id']}",
                                         method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except urllib.error.HTTPError as exc:  # already on its way out (its page was closed)
            if exc.code not in (404, 500):
                raise
    wait_for(lambda: running_kernels(lab) == [], 30, what="every kernel to stop")


def running_kernels(lab: Lab) -> list:
    """The running kernels (the server answers 500 while it removes one: asked again)."""
    def listing() -> tuple[list] | None:
        try:
            return (json.loads(_get(f"{lab.url}/api/kernels")),)
        except urllib.error.HTTPError as exc:
            if exc.code != 500:
                raise
            return None

    return wait_for(listing, 30, what="the kernel list")[0]


WIDGETS_SETTLED = """() => !Array.from(document.querySelectorAll('.jp-OutputArea-output'))
  .some(node => node.textContent.includes('Loading widget'))"""
BROKEN_IMAGES = """() => Array.from(document.querySelectorAll('.jp-OutputArea img'))
  .filter(img => !img.complete || img.naturalWidth === 0)
  .map(img => img.alt || img.src.slice(0, 40))"""


def reopen_and_check(browser, lab: Lab, path: str, *, notebook7: bool = False,
                     shot: str | None = None) -> None:
    """Open the saved notebook afresh (a new kernel starts, as after a restart): nothing
    broken shows anywhere."""
    page = browser.new_page()
    try:
        page.goto(_url(lab, path, notebook7))
        _wait_idle(page, notebook7=notebook7)
        page.wait_for_function(WIDGETS_SETTLED, timeout=CELL_TIMEOUT_MS)
        outputs = page.locator(".jp-OutputArea-output")
        assert outputs.count() > 0, "the saved outputs did not show"
        text = page.locator(".jp-Notebook").inner_text()
        assert "Error displaying widget" not in text
        assert "model not found" not in text
        assert page.evaluate(BROKEN_IMAGES) == []
        if shot:
            page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    finally:
        page.close()


def assert_no_widget_saved(nb: nbformat.NotebookNode, path: str) -> None:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            assert WIDGET_VIEW not in output.get("data", {}), (
                f"{path} cell {index} kept a widget: {cell.source[:60]!r}")


# -- every demo notebook: run, save, shut down, reopen --------------------------------------------


def _check_retry_follows(notebook: LabNotebook) -> None:
    """Notebook 02: the flaky cell's own panel shows the retried attempt, with no button."""
    from playwright.sync_api import expect

    notebook.run(notebook.index_of("%runpod retry flaky"))
    first = notebook.cell(notebook.index_of("%%runpod run chaos --wait -o flaky"))
    area = first.locator(".jp-Cell-outputArea")
    expect(area).to_contain_text("attempt 2", timeout=CELL_TIMEOUT_MS)
    expect(area).to_contain_text("COMPLETED", timeout=CELL_TIMEOUT_MS)
    assert area.locator("button").count() == 0
    first.screenshot(path=str(ARTIFACTS / "retried-panel-follows.png"))


def _check_live_panel(notebook: LabNotebook) -> None:
    """Notebook 01: a live panel mid-stream, for the record."""
    index = notebook.index_of('"stream": true, "sampling_params": {"max_tokens": 60}')
    notebook.run(index)
    notebook.cell(index).screenshot(path=str(ARTIFACTS / "live-panel.png"))


SPECIAL = {
    "01-quickstart.ipynb": _check_live_panel,
    "02-streaming-and-cancel.ipynb": _check_retry_follows,
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", [p.name for p in notebook_paths()])
def test_a_saved_demo_notebook_reopens_without_a_broken_output(browser, lab, name):
    notebook = open_notebook(browser, lab, name)
    try:
        if name in SPECIAL:
            SPECIAL[name](notebook)
        run_all(notebook)
        errors = notebook.page.locator(
            ".jp-Notebook [data-mime-type='application/vnd.jupyter.stderr']")
        assert errors.count() == 0, errors.all_inner_texts()
        saved = save(notebook, lab, name)
    finally:
        notebook.page.close()
    shut_down_kernels(lab)
    assert_no_widget_saved(saved, name)
    reopen_and_check(browser, lab, name, shot=f"saved-reopened-{name[:2]}.png")
    shut_down_kernels(lab)


@pytest.mark.timeout(600)
def test_the_quickstart_in_notebook_7_reopens_without_a_broken_output(browser, lab):
    path = "nb7/01-quickstart.ipynb"
    notebook = open_notebook(browser, lab, path, notebook7=True)
    try:
        run_all(notebook)
        saved = save(notebook, lab, path)
    finally:
        notebook.page.close()
    shut_down_kernels(lab)
    assert_no_widget_saved(saved, path)
    reopen_and_check(browser, lab, path, notebook7=True, shot="saved-reopened-nb7.png")
    shut_down_kernels(lab)


# -- the jobs table, a sweep, a replay ---------------------------------------------------------


def _scratch(root: Path) -> None:
    cells = [
        "%load_ext rp_jupyter\n%runpod local chaos\n%runpod local echo\n%runpod local images",
        '%%runpod run echo --wait\n{"note": "' + "a long line of output, " * 12 + '"}',
        '%%runpod run chaos --wait\n{"fail": "broken on purpose"}',
        "%%runpod run chaos --sweep sleep=1,2,3 --sweep chunks=2,4 -o swept\n"
        '{"interval": 0.3}',
        "swept.result(60);",
        "%runpod jobs --limit 10",
        "x = 1  # the reader moves on",
        '%%runpod run chaos --wait -o slow\n{"chunks": 12, "interval": 0.25}',
        "%runpod replay slow",
        '%%runpod run images\n{"steps": 4, "size": 1600, "delay": 0.7}',
        '%%runpod run images\n{"steps": 4, "size": 160, "delay": 0.7}',
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, root / SCRATCH)


@pytest.fixture(scope="module")
def scratch(browser, lab) -> Iterator[LabNotebook]:
    _scratch(lab.root)
    notebook = open_notebook(browser, lab, SCRATCH)
    try:
        yield notebook
    finally:
        notebook.page.close()
        shut_down_kernels(lab)


READ_SWEEP = """cell => {
  const area = cell.querySelector('.jp-Cell-outputArea');
  const badges = el => Array.from(el.querySelectorAll('span'))
      .filter(s => /^[A-Z_]+$/.test(s.textContent) && s.style.letterSpacing)
      .map(s => s.textContent);
  const html = Array.from(area.querySelectorAll('.widget-html-content'));
  if (html.length < 7) return null;
  const head = html[0];
  const counts = {};
  const b = badges(head);
  const numbers = head.innerText.match(/[A-Z_]+\\s+(\\d+)/g) || [];
  numbers.forEach(t => { const [s, n] = t.split(/\\s+/); counts[s] = Number(n); });
  const cards = {};
  html.slice(1).forEach(el => { const s = badges(el)[0]; if (s) cards[s] = (cards[s] || 0) + 1; });
  return {counts, cards, buttons: area.querySelectorAll('button').length};
}"""


@pytest.mark.timeout(300)
def test_a_live_sweep_header_agrees_with_its_cards_each_with_a_cancel(scratch):
    index = scratch.index_of("--sweep sleep=1,2,3")
    scratch.run(index)
    cell = scratch.cell(index)
    samples, deadline = [], time.monotonic() + 60
    while True:
        sample = cell.evaluate(READ_SWEEP)
        # the header and the cards of one tick are two messages, which a loaded machine may
        # deliver frames apart: a disagreement must be gone within a second
        settle = time.monotonic() + 1.0
        while (sample is not None and sample["counts"] != sample["cards"]
               and time.monotonic() < settle):
            scratch.page.wait_for_timeout(20)
            sample = cell.evaluate(READ_SWEEP)
        if sample is None:
            break  # static: the sweep is done
        samples.append(sample)
        if len(samples) == 5:
            cell.screenshot(path=str(ARTIFACTS / "sweep-live.png"))
        assert time.monotonic() < deadline, "the sweep did not end"
        scratch.page.wait_for_timeout(100)
    assert len(samples) >= 5, samples
    for sample in samples:
        assert sample["counts"] == sample["cards"], sample
        assert sample["buttons"] == 1 + 6  # Cancel all, and one per combination


MEASURE_TABLE = """cell => {
  const area = cell.querySelector('.jp-Cell-outputArea');
  const rows = Array.from(area.querySelectorAll('.widget-hbox')).slice(1);
  return rows.map(row => {
    const spans = Array.from(row.querySelectorAll('.widget-html-content > div > span'));
    const badge = row.querySelector('span[style*="letter-spacing"]');
    const output = spans[spans.length - 1];
    const button = row.querySelector('button');
    const cell = badge.parentElement;
    return {
      status: badge.textContent,
      badgeWhole: badge.scrollWidth <= badge.clientWidth + 1
        && badge.getBoundingClientRect().right <= cell.getBoundingClientRect().right + 1,
      outputRight: output.getBoundingClientRect().right,
      buttonLeft: button ? button.getBoundingClientRect().left : null,
      ellipsis: getComputedStyle(output).textOverflow,
      cut: output.scrollWidth > output.clientWidth,
    };
  });
}"""


@pytest.mark.timeout(300)
def test_the_jobs_table_shows_whole_badges_and_ends_long_text_before_its_buttons(scratch):
    index = scratch.index_of("%runpod jobs --limit 10")
    scratch.run(index)
    cell = scratch.cell(index)
    rows = cell.evaluate(MEASURE_TABLE)
    cell.screenshot(path=str(ARTIFACTS / "jobs-table.png"))
    assert len(rows) >= 8, rows
    assert {row["status"] for row in rows} >= {"COMPLETED", "FAILED"}
    for row in rows:
        assert row["badgeWhole"], row
        assert row["buttonLeft"] is not None and row["outputRight"] <= row["buttonLeft"] + 1, row
        assert row["ellipsis"] == "ellipsis"
    assert any(row["cut"] for row in rows)  # the long output was ended with an ellipsis
    # once the next cell runs, the table is static text and HTML
    scratch.run(index + 1)
    from playwright.sync_api import expect

    expect(cell.locator("button")).to_have_count(0, timeout=10_000)
    expect(cell.locator("table")).to_have_count(1)


@pytest.mark.timeout(300)
def test_a_replay_streams_again_in_its_panel(scratch):
    from playwright.sync_api import expect

    index = scratch.index_of("%runpod replay slow")
    scratch.run(index)
    cell = scratch.cell(index)
    area = cell.locator(".jp-Cell-outputArea")
    expect(area).to_contain_text("replayed from the journal", timeout=CELL_TIMEOUT_MS)
    counts = set()
    deadline = time.monotonic() + 30
    while "COMPLETED" not in area.inner_text():
        found = re.search(r"(\d+) chunks", area.inner_text())
        if found:
            counts.add(int(found.group(1)))
            if len(counts) == 3:
                cell.screenshot(path=str(ARTIFACTS / "replay-live.png"))
        assert time.monotonic() < deadline
        scratch.page.wait_for_timeout(100)
    assert len(counts) >= 3, counts  # the chunks came in over time, as they first did


def _pictures(scratch: LabNotebook, index: int) -> tuple[list[dict], dict]:
    """The live frame's sizes while the job runs, then the final picture's."""
    scratch.run(index)
    cell = scratch.cell(index)
    live = _sample_until_completed(
        scratch, index, lambda c: c.evaluate(MEASURE_IMAGE, "img.widget-image"))
    final = scratch.page.wait_for_function(
        "([cell, sel]) => { const r = (" + MEASURE_IMAGE + ")(cell, sel); "
        "return r && r.text.includes('COMPLETED') ? r : null; }",
        arg=[cell.element_handle(), ".jp-Cell-outputArea img"], timeout=CELL_TIMEOUT_MS,
    ).json_value()
    return live, final


@pytest.mark.timeout(300)
def test_pictures_show_at_natural_size_never_upscaled_never_wider_than_the_output(scratch):
    live, final = _pictures(scratch, scratch.index_of('"size": 160,'))
    assert live, "no frame showed in the live panel"
    assert all(s["natural"] == 160 and abs(s["width"] - 160) < 1 for s in live), live
    assert live[0]["area"] > 3 * 160  # there was room to stretch it
    assert final["natural"] == 160 and abs(final["width"] - 160) < 1
    live, final = _pictures(scratch, scratch.index_of('"size": 1600'))
    assert live and all(s["natural"] == 1600 and s["width"] <= s["area"] + 1 for s in live), live
    assert final["natural"] == 1600 and final["width"] <= final["area"] + 1
