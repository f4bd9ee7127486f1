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
import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image, ImageChops

from rp_jupyter.local.examples import imagegen, wordgen
from rp_jupyter.local.examples import images as images_example
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


def llm_reply(prompt: str, max_tokens: int, temperature: float = 1.0, seed: int = 0) -> str:
    """What the ``llm`` example writes for a prompt (its words come from ``wordgen``)."""
    return "".join(wordgen.generate(prompt, max_tokens, temperature, seed)[0])


def check_quickstart(nb: nbformat.NotebookNode) -> None:
    first = cell_text(code_cell(nb, '"greeting": "Hello, Runpod!"'))
    assert "COMPLETED" in first and "Hello, Runpod!" in first
    assert cell_text(code_cell(nb, "job.result()")) == (
        "{'echo': {'question': 'What is 6 times 7?', 'answer': 42}}"
    )
    assert '"greeting": "Hello, Ada!"' in cell_text(code_cell(nb, '"Hello, " + name'))
    answer = code_cell(nb, "-o answer")
    reply = llm_reply("Tell me about lighthouses", 100)
    shown = stream_or_plain(answer)
    assert "COMPLETED" in shown and reply in shown  # the reply's text, not token batches
    assert "choices" not in cell_text(answer) and "100 out" in shown
    assert stream_text(code_cell(nb, "answer.text[:100]")) == reply[:100] + " …\n"
    streamed = code_cell(nb, '"max_tokens": 60')
    assert llm_reply("Tell me about lighthouses", 60) in stream_or_plain(streamed)
    assert stream_text(code_cell(nb, "story.text_stream()")) == llm_reply("Once upon a time", 40)
    jobs = cell_text(code_cell(nb, "%runpod jobs"))
    assert jobs.count("COMPLETED") >= 5
    assert "Stopped local endpoint(s): echo, llm." in cell_text(code_cell(nb, "--stop"))


def check_streaming_and_cancel(nb: nbformat.NotebookNode) -> None:
    text = llm_reply("Write about the sea", 80)
    reply = code_cell(nb, "-o reply")
    assert "COMPLETED" in cell_text(reply) and text in stream_or_plain(reply)
    assert stream_text(code_cell(nb, "reply.result()")) == (
        f"12 batches of [1, 3, 8, 8, 8, 8, 8, 8, 8, 8, 8, 4] tokens:\n{text}\n"
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
    sdxl = code_cell(nb, "-o picture")
    assert "COMPLETED" in cell_text(sdxl)
    expected = imagegen.render(320, 192, "7|0", "a lighthouse at dusk")
    shown = png_of(sdxl)
    assert shown.size == (320, 192)  # the picture itself, at its own size
    assert ImageChops.difference(shown.convert("RGB"), expected.convert("RGB")).getbbox() is None
    assert "data:image/png;base64" not in stream_or_plain(sdxl)  # not a long string
    final_cell = code_cell(nb, "final = picture.images[0]")
    assert stream_text(final_cell) == "(320, 192) RGB seed 7\n"
    assert png_of(code_cell(nb, 'final.convert("L")')).size == (160, 96)
    pair = code_cell(nb, "-o pair")
    assert "2 images" in cell_text(pair) and png_of(pair).size[0] >= 320  # side by side
    assert cell_text(code_cell(nb, "pair.images]")) == "[(160, 160), (160, 160)]"
    comfy = code_cell(nb, "-o comfy")
    assert "harbor_00001_.png" in cell_text(comfy) and png_of(comfy).size == (256, 192)
    frames = code_cell(nb, "-o frames_job")
    expected_frame = images_example.picture(256, 7)
    assert ImageChops.difference(png_of(frames).convert("RGB"), expected_frame).getbbox() is None
    strip = code_cell(nb, "strip = Image.new")
    assert stream_text(strip) == "8 frames of (256, 256) pixels\n"
    assert png_of(strip).size == (8 * 100 - 4, 96)


def check_tuning(nb: nbformat.NotebookNode) -> None:
    prompt = ast.literal_eval(code_cell(nb, "prompt = ").source.partition("=")[2].strip())
    sweep_cell = code_cell(nb, "--sweep sampling_params.temperature=0,0.8,1.6")
    assert "6 jobs" in cell_text(sweep_cell)
    assert cell_text(sweep_cell).count("COMPLETED") >= 6

    def reply(temperature: float, seed: int) -> str:
        return llm_reply(prompt, 16, temperature, seed)

    table = cell_text(code_cell(nb, "table = tuning.result()"))
    assert table.count("COMPLETED") >= 6
    lines = stream_text(code_cell(nb, "zip(tuning.params, tuning.jobs)")).splitlines()
    assert lines == [
        f"temperature={t:<4} seed={s}: {reply(t, s)}" for t in (0, 0.8, 1.6) for s in (1, 2)
    ]
    assert reply(0, 1) == reply(0, 2) and reply(0.8, 1) != reply(0.8, 2)
    played = cell_text(code_cell(nb, "rp_jupyter.playground("))
    assert "COMPLETED" in played and "answered from the journal" in played
    assert reply(0.8, 1) in played


def check_results_that_last(nb: nbformat.NotebookNode) -> None:
    output = "{'echo': {'experiment': 'results that last', 'value': 42}}"
    forgotten = stream_text(code_cell(nb, "status_url ="))
    assert forgotten == "404 {'error': 'job not found'}\n"
    read = code_cell(nb, "%runpod result job")
    assert stream_text(read).startswith("Result of job ")  # and where it came from
    assert "kept in the journal" in stream_text(read)
    assert cell_text(read).endswith(output)
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


def check_your_worker_script(nb: nbformat.NotebookNode) -> None:
    def poem(topic: str) -> str:
        return (f"{topic}, at the edge of the day,\na light that turns and turns away;\n"
                f"and every ship that finds its way\ncomes home because of {topic}.\n")

    assert "Writing poem_worker.py" in stream_text(code_cell(nb, "%%writefile poem_worker.py"))
    served = [c for c in nb.cells if c.source == "%runpod local poem_worker.py"]
    assert len(served) == 1 and "Local endpoint 'poem_worker'" in cell_text(served[0])
    assert poem("the lighthouse") in stream_or_plain(code_cell(nb, "-o poem"))
    assert stream_text(code_cell(nb, "print(poem.text)")) == poem("the lighthouse") + "\n"
    real = cell_text(code_cell(nb, "--runpod-worker --id poem-real"))
    assert "unchanged, as runpod-python workers" in real and "RUNPOD_WEBHOOK_GET_JOB=" in real
    assert "RUNPOD_AI_API_KEY=" not in real or "not shown" in real
    assert ast.literal_eval(cell_text(code_cell(nb, "real.result()"))) == \
        poem("the harbor").splitlines(keepends=True)
    chosen = stream_text(code_cell(nb, "hosted = os.environ"))
    assert "using the local endpoint poem_worker" in chosen
    assert poem("the lighthouse") in stream_or_plain(code_cell(nb, "-o same"))
    assert "Stopped local endpoint(s): poem_worker, poem-real." in cell_text(
        code_cell(nb, "--stop"))


def saved_reply(cell: nbformat.NotebookNode) -> dict[str, str]:
    """The one reply a chat cell saved: its ``text/markdown`` and ``text/plain``."""
    found = [o.data for o in cell.outputs if "text/markdown" in o.get("data", {})]
    assert len(found) == 1, f"expected one Markdown output in:\n{cell.source}"
    assert set(found[0]) == {"text/markdown", "text/plain"}  # no widget left in the file
    return found[0]


def check_chat(nb: nbformat.NotebookNode) -> None:
    def chat_reply(contents: list[str], max_tokens: int, **sampling: float) -> str:
        return llm_reply("\n".join(contents), max_tokens, **sampling)  # as llm reads a chat

    asked = "What do rivers carry to the sea?"
    first = chat_reply([asked], 60)
    shown = saved_reply(code_cell(nb, "--max-tokens 60 -o talk"))
    assert shown["text/markdown"].startswith(first + "\n\n<sub>llm · rp-jupyter/fake-llm · ")
    assert "60 out" in shown["text/markdown"] and "first token" in shown["text/markdown"]
    assert shown["text/plain"].startswith(first + "\n[llm · ")
    second = chat_reply([asked, first, "And what do glaciers carry?"], 40)
    assert saved_reply(code_cell(nb, "--max-tokens 40 -o talk"))["text/markdown"].startswith(
        second + "\n\n<sub>")
    roles = stream_text(code_cell(nb, "for message in talk.messages")).splitlines()
    assert [line.split(":")[0].strip() for line in roles] == ["user", "assistant"] * 2
    history = cell_text(code_cell(nb, "%runpod chat --history talk"))
    assert "2 turn(s)" in history and first in history and second in history
    assert stream_text(code_cell(nb, "variant = talk.fork()")).endswith(
        "talk has 2 turns, the variant 2\n")
    named = stream_text(code_cell(nb, "reply.text_stream()"))
    assert named.startswith(chat_reply(["Name three rivers"], 12, seed=1) + "\n")
    assert named.endswith("12 tokens out, finish: length\n")
    assert stream_text(code_cell(nb, 'cache="use"')) == (
        "answered from the journal: True | same reply: True\n")
    swept = cell_text(code_cell(nb, "--sweep temperature=0,0.7,1.4"))
    assert "3 jobs on llm (3 COMPLETED)" in swept
    assert chat_reply([asked, first, "And what do glaciers carry?", second, "Name a river"], 8,
                      temperature=0) in swept
    lesson = saved_reply(code_cell(nb, "%%runpod chat tutor"))["text/markdown"]
    assert lesson.startswith("Loop over a list with `for`:\n\n```python\n"
                             'rivers = ["Nile", "Amazon"]\nfor river in rivers:\n')
    assert "```\n\nEach pass takes **one** river.\n\n<sub>tutor · " in lesson
    assert "Stopped local endpoint(s): llm, tutor." in cell_text(code_cell(nb, "--stop"))
def source_cell(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """The one code cell whose source is exactly ``source``."""
    found = [c for c in nb.cells if c.cell_type == "code" and c.source == source]
    assert len(found) == 1, f"expected one code cell {source!r}, found {len(found)}"
    return found[0]


def check_costs_and_waits(nb: nbformat.NotebookNode) -> None:
    a100 = "(A100 flex, Runpod's prices of 2026-06-08)"
    assert f"Price of a100-box: $0.00076/s {a100}" in stream_text(
        code_cell(nb, "%runpod price a100-box A100"))
    listing = cell_text(source_cell(nb, "%runpod price"))
    assert "as of 2026-06-08" in listing and "B200" in listing and "$0.0024/s" in listing
    story = code_cell(nb, "-o story")
    footer = stream_or_plain(story).strip().splitlines()[-1]
    assert footer.startswith("cost $") and footer.endswith(f"× $0.00076/s {a100}")
    assert f"× $0.00076/s {a100}" in cell_text(story)  # the HTML rendering too
    assert stream_text(code_cell(nb, "story.cost.describe()")).strip() == footer
    sweep = stream_or_plain(code_cell(nb, "--sweep temperature"))
    assert "6 COMPLETED" in sweep and "total cost $" in sweep and "(estimated $" in sweep
    report = source_cell(nb, "%runpod cost")
    text = stream_or_plain(report)
    assert "Cost by endpoint (all time), from the journal" in text and "█" in text
    assert "a100-box" in text and "background:#2563eb" in cell_text(report)
    assert "Cost by day (last 7d)" in stream_or_plain(code_cell(nb, "--by day"))
    frame = stream_or_plain(code_cell(nb, 'rp_jupyter.cost(by="endpoint")'))
    assert "a100-box" in frame and "unknown_cost" in frame
    refused = stream_text(code_cell(nb, "except rp_jupyter.BudgetExceededError"))
    assert refused.startswith("this sweep (24 jobs × ~") and "nothing was sent" in refused
    stopped = cell_text(code_cell(nb, "-o long_job"))
    assert "CANCELLED" in stopped and "cancelled to keep within the session budget" in stopped
    assert "no GPU capacity (1 worker throttled)" in cell_text(
        code_cell(nb, "rp_jupyter.why_waiting(stuck)"))
    stuck = cell_text(code_cell(nb, "time.sleep(1.5)"))
    assert "IN_QUEUE" in stuck and "forgotten? it keeps a worker busy" in stuck
    assert "forgotten? IN_QUEUE after" in cell_text(code_cell(nb, "%runpod jobs --limit 3"))
    assert stream_text(code_cell(nb, "for job in [cold_job")).splitlines() == [
        "    cold: waiting: 1 worker initializing (a cold start)",
        "  crashy: waiting: 1 worker unhealthy (crash-looping: look at the worker's logs)",
        "     off: waiting: no workers are running or starting, and none are allowed (is the "
        "endpoint's max workers 0?)",
        "slow-box: waiting: the only worker is busy (1st of 1 in the queue)",
    ]
    assert "Cancelled 6 unfinished job(s)" in stream_text(code_cell(nb, "%runpod cancel --all"))


CHECKS: dict[str, Callable[[nbformat.NotebookNode], None]] = {
    "01-quickstart": check_quickstart,
    "02-streaming-and-cancel": check_streaming_and_cancel,
    "03-images": check_images,
    "04-tuning": check_tuning,
    "05-results-that-last": check_results_that_last,
    "06-hosted-runpod": check_hosted_fallback,
    "07-your-worker-script": check_your_worker_script,
    "08-chat": check_chat,
    "09-costs-and-waits": check_costs_and_waits,
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
