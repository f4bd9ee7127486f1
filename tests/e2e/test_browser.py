"""``02-streaming-and-cancel`` in a real JupyterLab, driven through Debian's Chromium.

JupyterLab is started on a free loopback port with a copy of the notebook; the cells run one
by one as a reader would run them (select the cell, press the toolbar's Run button).  What
is checked is what a reader sees: the streamed text grows in the panel while the job runs,
and the panel's Cancel button stops the long job (the panel says CANCELLED within 2 s, and
the local endpoint agrees).

Screenshots go to ``test-artifacts/`` (``streaming-panel.png`` mid-stream,
``cancelled-panel.png`` after the click; ``browser-failure.png`` when a test fails).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from rp_jupyter.local.examples import wordgen
from tests.e2e.conftest import ARTIFACTS, NOTEBOOKS_DIR
from tests.workers.fake_text import tokens

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

NOTEBOOK = "02-streaming-and-cancel.ipynb"
LAB_START_TIMEOUT = 90.0
CELL_TIMEOUT_MS = 60_000
CANCEL_SHOWN_WITHIN_MS = 2_000
SAMPLE_EVERY_MS = 50
JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f-]+-u\d+$")

# Quiet, deterministic JupyterLab: every cell in the DOM, no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none", "autoStartDefaultKernel": True,
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}


# -- JupyterLab and the browser -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


class Lab:
    """A JupyterLab server started for the tests, on 127.0.0.1."""

    def __init__(self, root: Path, home: Path, log: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RUNPOD_", "RP_JUPYTER_", "JUPYTER"))}
        for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                     "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR",
                     "RP_JUPYTER_HOME"):
            folder = home / name.lower()
            folder.mkdir(parents=True)
            env[name] = str(folder)
        for relative, values in LAB_SETTINGS.items():
            path = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        jupyter = Path(sys.executable).with_name("jupyter")
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [str(jupyter), "lab", "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
             "--ServerApp.port_retries=0", "--IdentityProvider.token=",
             "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
             f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--LabApp.extension_manager=readonly"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.process.returncode}); "
                                   f"see {self.log.name}")
            try:
                _get(f"{self.url}/api/status")
                return
            except (urllib.error.URLError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"JupyterLab did not answer in {LAB_START_TIMEOUT:g} s"
                    ) from exc
                try:  # poll again in a moment, unless the server exits meanwhile
                    self.process.wait(0.2)
                except subprocess.TimeoutExpired:
                    pass

    def start_kernel_for(self, path: str) -> None:
        """Start the notebook's kernel session before the page opens it, so JupyterLab
        attaches to a running kernel instead of racing to start one."""
        body = json.dumps({"path": path, "name": path, "type": "notebook",
                           "kernel": {"name": "python3"}}).encode()
        request = urllib.request.Request(f"{self.url}/api/sessions", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=60).close()

    def stop(self) -> None:
        """Shut the kernels down (they stop their local endpoints), then the server."""
        if self.process.poll() is None:
            try:
                for kernel in json.loads(_get(f"{self.url}/api/kernels")):
                    request = urllib.request.Request(
                        f"{self.url}/api/kernels/{kernel['id']}", method="DELETE"
                    )
                    urllib.request.urlopen(request, timeout=20).close()
            except (urllib.error.URLError, OSError, ValueError):
                pass
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab-root")
    shutil.copy(NOTEBOOKS_DIR / NOTEBOOK, root / NOTEBOOK)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser-failure.png").unlink(missing_ok=True)
    server = Lab(root, tmp_path_factory.mktemp("lab-home"), ARTIFACTS / "jupyterlab.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


class LabNotebook:
    """The notebook open in JupyterLab; runs its code cells in order, each at most once."""

    def __init__(self, page, sources: list[tuple[str, str]]) -> None:
        self.page = page
        self.sources = sources  # (cell type, source), as in the file
        self.ran: set[int] = set()

    def cell(self, index: int):
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def index_of(self, snippet: str) -> int:
        found = [i for i, (kind, src) in enumerate(self.sources)
                 if kind == "code" and snippet in src]
        assert len(found) == 1, f"one code cell should contain {snippet!r}"
        return found[0]

    def run(self, index: int) -> None:
        """Run every earlier code cell not run yet (waiting for each), then this one,
        waiting until the kernel has finished it."""
        from playwright.sync_api import expect

        for earlier in range(index):
            if self.sources[earlier][0] == "code" and earlier not in self.ran:
                self.run(earlier)
        cell = self.cell(index)
        cell.locator(".jp-InputPrompt").click()
        expect(cell).to_have_class(re.compile(r"\bjp-mod-active\b"))
        self.page.locator(
            ".jp-NotebookPanel-toolbar [data-command='notebook:run-cell-and-select-next']"
        ).click()
        self.ran.add(index)
        expect(cell.locator(".jp-InputPrompt")).to_have_text(
            re.compile(r"^\[\d+\]:$"), timeout=CELL_TIMEOUT_MS
        )

    def output_text(self, index: int) -> str:
        return self.cell(index).locator(".jp-Cell-outputArea").inner_text()


@pytest.fixture(scope="module")
def notebook(browser, lab) -> Iterator[LabNotebook]:
    from playwright.sync_api import expect

    lab.start_kernel_for(NOTEBOOK)
    page = browser.pages[0] if browser.pages else browser.new_page()
    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}")
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_visible(
        timeout=CELL_TIMEOUT_MS
    )
    expect(page.locator(".jp-NotebookPanel-toolbar .jp-KernelName")).to_have_text(
        "Python 3 (ipykernel)", timeout=CELL_TIMEOUT_MS
    )
    nb = nbformat.read(lab.root / NOTEBOOK, as_version=4)
    expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(len(nb.cells))
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    yield LabNotebook(page, [(c.cell_type, c.source) for c in nb.cells])


@pytest.fixture(autouse=True)
def screenshot_on_failure(request, notebook) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        notebook.page.screenshot(path=str(ARTIFACTS / "browser-failure.png"), full_page=True)


# -- the checks -----------------------------------------------------------------------------------

READ_PANEL = """cell => {
  const out = cell.querySelector('.jp-Cell-outputArea');
  const pre = out && out.querySelector('pre');
  return {text: pre ? pre.textContent : '', all: out ? out.innerText : ''};
}"""


@pytest.mark.timeout(240)
def test_streamed_text_grows_in_the_live_panel_while_the_job_runs(notebook):
    index = notebook.index_of("%%runpod run llm -o reply")
    notebook.run(index)  # returns at once: the panel goes on updating while the kernel idles
    cell = notebook.cell(index)
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while True:
        panel = cell.evaluate(READ_PANEL)
        if "COMPLETED" in panel["all"]:
            break
        if panel["text"] and (not seen or panel["text"] != seen[-1]):
            seen.append(panel["text"])
            if len(seen) == 3:
                cell.screenshot(path=str(ARTIFACTS / "streaming-panel.png"))
        assert time.monotonic() < deadline, f"the job did not complete; saw {len(seen)} steps"
        notebook.page.wait_for_timeout(SAMPLE_EVERY_MS)

    lengths = [len(text) for text in seen]
    (ARTIFACTS / "streaming-steps.json").write_text(json.dumps({"visible_lengths": lengths}))
    assert len(seen) >= 5, f"the text grew in only {len(seen)} visible steps: {lengths}"
    for before, after in itertools.pairwise(seen):
        assert after.startswith(before) and len(after) > len(before), lengths
    final = notebook.output_text(index)
    assert "".join(wordgen.generate("Write about the sea", 80)[0]) in final
    assert "choices" not in final and "80 out" in final
    assert (ARTIFACTS / "streaming-panel.png").stat().st_size > 0


@pytest.mark.timeout(240)
def test_cancel_button_stops_the_long_job_and_the_endpoint_agrees(notebook):
    from playwright.sync_api import expect

    started = notebook.output_text(notebook.index_of("%runpod local chaos"))
    endpoints = dict(re.findall(r"Local endpoint '([\w-]+)' .* running at (\S+);", started))
    assert "chaos" in endpoints, started

    index = notebook.index_of("--no-wait -o long_job")
    notebook.run(index)
    cell = notebook.cell(index)
    # running and streaming: the live panel counts the chunks it has received
    expect(cell.locator(".jp-Cell-outputArea")).to_contain_text("chunk", timeout=CELL_TIMEOUT_MS)
    job_id = cell.locator(".jp-Cell-outputArea span[title]").first.get_attribute("title")
    assert job_id and JOB_ID.match(job_id), job_id

    cancel = cell.get_by_role("button", name="Cancel")
    expect(cancel).to_be_enabled()
    cancel.click()
    expect(cell.locator(".jp-Cell-outputArea")).to_contain_text(
        "CANCELLED", timeout=CANCEL_SHOWN_WITHIN_MS
    )
    cell.screenshot(path=str(ARTIFACTS / "cancelled-panel.png"))

    status = json.loads(_get(f"{endpoints['chaos']}/chaos/status/{job_id}"))
    assert status["status"] == "CANCELLED"

    # the cells after it agree: the magic finds the job already final
    notebook.run(notebook.index_of("%runpod cancel long_job"))
    said = notebook.output_text(notebook.index_of("%runpod cancel long_job"))
    assert f"Job {job_id} is already CANCELLED" in said
    notebook.run(notebook.index_of("print(long_job.status)"))
    assert notebook.output_text(notebook.index_of("print(long_job.status)")).strip() == "CANCELLED"


@pytest.mark.timeout(240)
def test_rest_of_the_notebook_runs_in_jupyterlab_without_errors(notebook):
    last = max(i for i, (kind, _) in enumerate(notebook.sources) if kind == "code")
    notebook.run(last)
    retried = notebook.output_text(notebook.index_of("flaky.result()[-1]"))
    assert "'attempt': 2" in retried
    errors = notebook.page.locator(".jp-Notebook [data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.all_inner_texts()
    assert "The job failed:" in notebook.output_text(notebook.index_of("broken.result()"))


# -- real workers' shapes in JupyterLab ----------------------------------------------------------

FORMATS_NOTEBOOK = "worker-formats.ipynb"
FRAME = 192  # pixels: a small picture that must keep its size in a ~1,200 px output area


def _formats_notebook(root: Path) -> list[tuple[str, str]]:
    """A notebook that serves the vLLM stand-in and two picture workers locally and runs a
    job on each (written by the test: the demo notebooks stay as they are)."""
    from tests.workers import script

    vllm = {"prompt": "Tell me a story", "stream": True, "delay": 0.6,
            "sampling_params": {"max_tokens": 80}}
    frames = {"steps": 6, "size": FRAME, "delay": 0.8}
    comfy = {"workflow": {"steps": 3, "size": [FRAME, 128]}, "delay": 0.8}
    sources = [
        "%load_ext rp_jupyter",
        f"%runpod local {script('vllm')} --id vllm",
        f"%%runpod run vllm -o reply\n{json.dumps(vllm)}",
        "%runpod local images --id frames",
        f"%%runpod run frames\n{json.dumps(frames)}",
        f"%runpod local {script('comfyui')} --id comfyui",
        f"%%runpod run comfyui\n{json.dumps(comfy)}",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, root / FORMATS_NOTEBOOK)
    return [("code", source) for source in sources]


@pytest.fixture(scope="module")
def formats_notebook(browser, lab) -> Iterator[LabNotebook]:
    from playwright.sync_api import expect

    sources = _formats_notebook(lab.root)
    lab.start_kernel_for(FORMATS_NOTEBOOK)
    page = browser.new_page()
    page.goto(f"{lab.url}/lab/tree/{FORMATS_NOTEBOOK}")
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_visible(
        timeout=CELL_TIMEOUT_MS
    )
    expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(len(sources))
    try:
        yield LabNotebook(page, sources)
    finally:
        page.close()


MEASURE_IMAGE = """(cell, selector) => {
  const out = cell.querySelector('.jp-Cell-outputArea');
  const img = out && out.querySelector(selector);
  if (!img || !img.complete || !img.naturalWidth || !img.getClientRects().length) return null;
  return {width: img.getBoundingClientRect().width, natural: img.naturalWidth,
          area: out.getBoundingClientRect().width, text: out.innerText};
}"""


def _sample_until_completed(notebook: LabNotebook, index: int, read) -> list:
    """``read(cell)`` every 50 ms while the cell's job runs; the non-empty samples."""
    cell = notebook.cell(index)
    samples, deadline = [], time.monotonic() + 90
    while "COMPLETED" not in cell.locator(".jp-Cell-outputArea").inner_text():
        sample = read(cell)
        if sample:
            samples.append(sample)
        assert time.monotonic() < deadline, "the job did not complete"
        notebook.page.wait_for_timeout(SAMPLE_EVERY_MS)
    return samples


@pytest.mark.timeout(300)
def test_a_vllm_stream_and_pictures_show_as_a_person_expects(formats_notebook):
    notebook = formats_notebook
    page = notebook.page
    # vLLM token batches: running text that grows, with the token footer, never JSON
    index = notebook.index_of("%%runpod run vllm")
    notebook.run(index)
    seen = _sample_until_completed(notebook, index, lambda cell: cell.evaluate(READ_PANEL))
    texts = [s["text"] for s in seen if s["text"]]
    reply = "".join(tokens(80))
    assert len(set(texts)) >= 3, texts
    assert all(reply.startswith(t) for t in texts), texts  # running text, never JSON
    for before, after in itertools.pairwise(texts):
        assert after.startswith(before)
    assert any("tokens in" in s["all"] and "IN_PROGRESS" in s["all"] for s in seen)
    final = notebook.output_text(index)
    assert "The lighthouse keeper counted the waves" in final and "80 out" in final
    assert "choices" not in final and "tokens/s" in final
    notebook.cell(index).screenshot(path=str(ARTIFACTS / "vllm-panel.png"))

    # frames streamed into the live Image widget: natural size, not the output's width
    index = notebook.index_of("%%runpod run frames")
    notebook.run(index)
    live = _sample_until_completed(
        notebook, index, lambda cell: cell.evaluate(MEASURE_IMAGE, "img.widget-image"))
    assert live, "no frame showed in the live panel"
    assert all(s["natural"] == FRAME and s["width"] == FRAME for s in live), live
    assert live[0]["area"] > 3 * FRAME  # there was room to stretch it
    done = page.wait_for_function(
        "([cell, sel]) => { const r = (" + MEASURE_IMAGE + ")(cell, sel); "
        "return r && r.text.includes('COMPLETED') ? r : null; }",
        arg=[notebook.cell(index).element_handle(), "figure img"], timeout=CELL_TIMEOUT_MS,
    ).json_value()
    assert done["natural"] == FRAME and done["width"] == FRAME

    # a ComfyUI job: a progress bar while it works, then its picture at its own size
    index = notebook.index_of("%%runpod run comfyui")
    notebook.run(index)
    seen = _sample_until_completed(
        notebook, index, lambda cell: cell.locator(".jp-Cell-outputArea").inner_text())
    assert any("/3 · sampling" in text for text in seen), seen
    final = notebook.cell(index).evaluate(MEASURE_IMAGE, "figure img")
    assert final["natural"] == FRAME and final["width"] == FRAME
    assert "ComfyUI_00001_.png · 192×128 PNG" in final["text"]
    notebook.cell(index).screenshot(path=str(ARTIFACTS / "comfyui-panel.png"))
