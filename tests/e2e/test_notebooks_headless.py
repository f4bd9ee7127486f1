"""Every demo notebook, run top to bottom in a real kernel by nbclient (as nbconvert and
papermill do): no error outputs, the final results saved in the file, no API key anywhere.

Each notebook starts its own local endpoint, so these runs need no account and no network.
A fake key is in the environment (except where ``06-hosted-runpod`` must fall back to a local
endpoint for want of one): the local endpoints ignore it, and it must not appear in the
saved notebook or in the journal.  ``06-hosted-runpod`` also runs with the key and an
endpoint id set and ``RUNPOD_ENDPOINT_BASE_URL`` pointing at a key-checking local endpoint
started by the test, standing in for the hosted API.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image, ImageChops

from rp_jupyter.local.examples import images as images_example
from rp_jupyter.local.examples import tokens as tokens_example
from tests.e2e.conftest import (
    ARTIFACTS,
    FAKE_API_KEY,
    NOTEBOOKS_DIR,
    cell_text,
    notebook_paths,
    stream_text,
)

pytestmark = pytest.mark.e2e

CELL_TIMEOUT = 120  # seconds for any one cell; each notebook takes well under 30 s in all


# -- running a notebook -----------------------------------------------------------------------


def execute(name: str, tmp_path: Path) -> tuple[nbformat.NotebookNode, str]:
    """Run a copy of ``notebooks/<name>.ipynb`` in its own folder; returns the executed
    notebook and the text of the saved file.  A failed run is saved to test-artifacts/."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    path = folder / f"{name}.ipynb"
    shutil.copy(NOTEBOOKS_DIR / path.name, path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    finally:
        nbformat.write(nb, path)
        saved = path.read_text(encoding="utf-8")
        if any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", [])):
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(path, ARTIFACTS / f"failed-{name}.ipynb")
    return nb, saved


def code_cell(nb: nbformat.NotebookNode, snippet: str) -> nbformat.NotebookNode:
    """The one code cell whose source contains ``snippet``."""
    found = [c for c in nb.cells if c.cell_type == "code" and snippet in c.source]
    assert len(found) == 1, f"expected one code cell containing {snippet!r}, found {len(found)}"
    return found[0]


def png_of(cell: nbformat.NotebookNode) -> Image.Image:
    """The (last) PNG a cell shows."""
    pngs = [o.data["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
    assert pngs, f"no image/png in the outputs of:\n{cell.source}"
    return Image.open(io.BytesIO(base64.b64decode(pngs[-1])))


def stream_or_plain(cell: nbformat.NotebookNode) -> str:
    """What a plain-text frontend shows: printed text and text/plain."""
    return "\n".join(
        o.text if o.output_type == "stream" else o.get("data", {}).get("text/plain", "")
        for o in cell.outputs
    )


def assert_clean_run(nb: nbformat.NotebookNode, saved: str, key: str = FAKE_API_KEY) -> None:
    errors = [
        f"{o.ename}: {o.evalue}" for c in nb.cells for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors, errors
    assert key not in saved
    assert key[-10:] not in saved


def assert_key_not_in_journal(home: Path, key: str = FAKE_API_KEY) -> None:
    for path in home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the key is in {path}"


# -- what each notebook must end with ---------------------------------------------------------


def check_quickstart(nb: nbformat.NotebookNode) -> None:
    first = cell_text(code_cell(nb, '"greeting": "Hello, Runpod!"'))
    assert "COMPLETED" in first and "Hello, Runpod!" in first
    assert cell_text(code_cell(nb, "job.result()")) == (
        "{'echo': {'question': 'What is 6 times 7?', 'answer': 42}}"
    )
    assert '"greeting": "Hello, Ada!"' in cell_text(code_cell(nb, '"Hello, " + name'))
    text_cell = code_cell(nb, "Streaming means you read")
    assert "COMPLETED" in cell_text(text_cell)
    assert text_cell.source.split("\n", 1)[1] in stream_or_plain(text_cell)
    story = json.loads(code_cell(nb, "-o story").source.split("\n", 1)[1])["prompt"]
    assert stream_text(code_cell(nb, "story.stream()")) == "".join(
        word + " " for word in story.split()
    )
    jobs = cell_text(code_cell(nb, "%runpod jobs"))
    assert jobs.count("COMPLETED") >= 5
    assert "Stopped local endpoint(s): echo, tokens." in cell_text(code_cell(nb, "--stop"))


def check_streaming_and_cancel(nb: nbformat.NotebookNode) -> None:
    words = tokens_example.DEFAULT_PROMPT.split()[:40]
    reply = cell_text(code_cell(nb, "-o reply"))
    assert "COMPLETED" in reply
    assert " ".join(words) in reply
    assert stream_text(code_cell(nb, "reply.result()")) == (
        "40 chunks:\n" + "".join(w + " " for w in words) + "\n"
    )
    assert stream_text(code_cell(nb, "long_job.stream()")).split("\n")[:3] == [
        "{'chunk': 0}", "{'chunk': 1}", "{'chunk': 2}",
    ]
    assert "Cancelled job" in stream_text(code_cell(nb, "%runpod cancel long_job"))
    assert stream_text(code_cell(nb, "print(long_job.status)")) == "CANCELLED\n"
    failed = cell_text(code_cell(nb, "-o flaky"))
    assert "FAILED" in failed and "failing the first attempt on purpose" in failed
    retried = cell_text(code_cell(nb, "%runpod retry flaky"))
    assert "COMPLETED" in retried and "attempt 2" in retried
    assert cell_text(code_cell(nb, "flaky.result()[-1]")) == (
        "{'done': True, 'slept': 0.0, 'chunks': 3, 'attempt': 2}"
    )
    caught = stream_text(code_cell(nb, "except rp_jupyter.JobFailedError"))
    assert caught.startswith("The job failed:")
    assert "the model ran out of memory (pretend)" in caught


def check_images(nb: nbformat.NotebookNode) -> None:
    job_cell = code_cell(nb, "-o picture")
    assert "COMPLETED" in cell_text(job_cell)
    expected = images_example.picture(256, 7)
    shown = png_of(job_cell)
    assert shown.size == (256, 256)
    assert ImageChops.difference(shown.convert("RGB"), expected).getbbox() is None
    assert stream_text(code_cell(nb, "frames = [")) == "8 frames of (256, 256) pixels\n"
    assert png_of(code_cell(nb, "strip = Image.new")).size == (8 * 100 - 4, 96)
    final_cell = code_cell(nb, "final = frames[-1]")
    assert stream_text(final_cell) == "(256, 256) RGB\n"
    final = png_of(final_cell).convert("RGB")
    assert ImageChops.difference(final, expected).getbbox() is None
    assert png_of(code_cell(nb, 'final.convert("L")')).size == (128, 128)


def check_tuning(nb: nbformat.NotebookNode) -> None:
    prompt = ast.literal_eval(code_cell(nb, "prompt = ").source.partition("=")[2].strip())
    sweep_cell = code_cell(nb, "--sweep temperature=0,0.8,1.6 --sweep seed=1,2")
    assert "6 jobs" in cell_text(sweep_cell)
    assert cell_text(sweep_cell).count("COMPLETED") >= 6

    def reply(temperature: float, seed: int) -> str:
        return "".join(w + " " for w in tokens_example.generate(prompt, 256, temperature, seed))

    table = cell_text(code_cell(nb, "table = tuning.result()"))
    assert table.count("COMPLETED") >= 6
    lines = stream_text(code_cell(nb, "zip(tuning.params, tuning.jobs)")).splitlines()
    assert lines == [
        f"temperature={t:<4} seed={s}:  {reply(t, s)}" for t in (0, 0.8, 1.6) for s in (1, 2)
    ]
    assert reply(0, 1) != reply(1.6, 1)
    played = cell_text(code_cell(nb, "rp_jupyter.playground("))
    assert "COMPLETED" in played
    assert reply(0.8, 1).strip() in played


def check_results_that_last(nb: nbformat.NotebookNode) -> None:
    output = "{'echo': {'experiment': 'results that last', 'value': 42}}"
    forgotten = stream_text(code_cell(nb, "status_url ="))
    assert forgotten == "404 {'error': 'job not found'}\n"
    assert cell_text(code_cell(nb, "%runpod result job")) == output
    job_id = stream_text(code_cell(nb, "job_id = job.id")).strip()
    assert job_id
    assert stream_text(code_cell(nb, "subprocess.run(")).strip() == output
    assert job_id in cell_text(code_cell(nb, "%runpod jobs"))
    again = code_cell(nb, "--cache use -o again")
    assert "answered from the journal" in cell_text(again)
    assert stream_text(code_cell(nb, "again.cached")) == (
        f"answered from the journal: True\nsame job as before: True\n{output}\n"
    )


def check_hosted_fallback(nb: nbformat.NotebookNode) -> None:
    chosen = stream_text(code_cell(nb, 'os.environ.get("RUNPOD_API_KEY")'))
    assert "using a local endpoint instead" in chosen
    assert "(no Authorization header)" in cell_text(code_cell(nb, "--dry-run"))
    assert cell_text(code_cell(nb, "hello.result()")) == (
        "{'echo': {'prompt': 'Hello from a notebook'}}"
    )
    assert "workers:" in cell_text(code_cell(nb, "%runpod health"))


CHECKS: dict[str, Callable[[nbformat.NotebookNode], None]] = {
    "01-quickstart": check_quickstart,
    "02-streaming-and-cancel": check_streaming_and_cancel,
    "03-images": check_images,
    "04-tuning": check_tuning,
    "05-results-that-last": check_results_that_last,
    "06-hosted-runpod": check_hosted_fallback,
}


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs_and_no_machine_paths(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source
    text = path.read_text(encoding="utf-8")
    for marker in ("/work/", "/home/", "/tmp/", "/root/", "C:\\\\", "rpa_"):
        assert marker not in text


def test_every_notebook_has_its_headless_check():
    assert sorted(p.stem for p in notebook_paths()) == sorted(CHECKS)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_runs_headless_with_final_results_saved(name, tmp_path, monkeypatch, rp_home):
    if name != "06-hosted-runpod":  # 06 without a key must fall back to a local endpoint
        monkeypatch.setenv("RUNPOD_API_KEY", FAKE_API_KEY)
    nb, saved = execute(name, tmp_path)
    assert_clean_run(nb, saved)
    CHECKS[name](nb)
    assert_key_not_in_journal(rp_home)


@pytest.mark.timeout(180)
def test_hosted_notebook_uses_key_and_endpoint_from_environment_without_saving_the_key(
    tmp_path, monkeypatch, rp_home
):
    from rp_jupyter.local import LocalEndpoint

    with LocalEndpoint("echo", endpoint_id="my-endpoint", api_key=FAKE_API_KEY) as hosted:
        monkeypatch.setenv("RUNPOD_API_KEY", FAKE_API_KEY)
        monkeypatch.setenv("RUNPOD_ENDPOINT_ID", hosted.endpoint_id)
        monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", hosted.base_url)
        nb, saved = execute("06-hosted-runpod", tmp_path)
        runs = hosted.request_count("run")
    assert_clean_run(nb, saved)
    assert_key_not_in_journal(rp_home)
    assert runs == 1  # the job went to the "hosted" endpoint, which checks the key
    chosen = stream_text(code_cell(nb, 'os.environ.get("RUNPOD_API_KEY")'))
    assert chosen == "Using your Runpod endpoint my-endpoint.\n"
    config = cell_text(code_cell(nb, "%runpod config"))
    assert "set (hidden)" in config and "environment (RUNPOD_API_KEY)" in config
    dry = cell_text(code_cell(nb, "--dry-run"))
    assert "Authorization: Bearer ***" in dry and f"{hosted.base_url}/my-endpoint/run" in dry
    assert cell_text(code_cell(nb, "hello.result()")) == (
        "{'echo': {'prompt': 'Hello from a notebook'}}"
    )
