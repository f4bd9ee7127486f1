"""Shared pieces of the end-to-end checks: where the notebooks and artifacts live, reading a
notebook's saved outputs, and each test's outcome for fixtures that save evidence on failure.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO / "notebooks"
ARTIFACTS = REPO / "test-artifacts"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

#: What a key in the environment looks like to these tests; it must never reach a saved file.
FAKE_API_KEY = "rpa_E2E0FAKE0KEY0x7Q2m9Vt4Lk8Zs3"


def run_and_reopen(sources: list[str], folder: Path, name: str) -> nbformat.NotebookNode:
    """Run ``sources`` as a notebook's cells in a real kernel started in ``folder``, save it
    there as ``name`` (also when a cell fails) and read it back, as a reader without a kernel
    would."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    client = NotebookClient(nb, timeout=120, startup_timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    path = folder / name
    try:
        client.execute()
    finally:
        nbformat.write(nb, path)
    return nbformat.read(path, as_version=4)


def notebook_paths() -> list[Path]:
    """The project's own notebooks: those git knows (a user's own notebook saved in
    ``notebooks/`` is none of the suite's business); every one there without git."""
    import subprocess

    try:
        listed = subprocess.run(["git", "ls-files", "--", "*.ipynb"], cwd=NOTEBOOKS_DIR,
                                capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    return sorted(NOTEBOOKS_DIR / name for name in listed if "/" not in name)


def cell_text(cell) -> str:
    """Everything a cell shows as text: streams, text/plain, text/html, error messages."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
        else:
            data = output.get("data", {})
            for mime in ("text/plain", "text/html"):
                if mime in data:
                    parts.append(str(data[mime]))
    return "\n".join(parts)


def stream_text(cell) -> str:
    """Only what the cell printed."""
    return "".join(o.text for o in cell.get("outputs", []) if o.output_type == "stream")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (``item.rep_call``), for fixtures that
    save screenshots or logs when a test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium driven by Playwright, one per test module."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/setup.sh --browser` "
                    "(it installs Debian's chromium with apt)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            yield context
        finally:
            context.close()
