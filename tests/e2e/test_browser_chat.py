"""``%%runpod chat`` in a real JupyterLab, driven through Debian's Chromium: the reply grows
in the cell while it streams and renders as Markdown, a code block as a code block; the cell
ids JupyterLab sends let a chat cell run again ask its turn again.

Screenshots go to ``test-artifacts/`` (``chat-streaming.png`` mid-stream, ``chat-markdown.png``
with the code block; ``browser-chat-failure.png`` when a test fails).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_browser import CELL_TIMEOUT_MS, SAMPLE_EVERY_MS, Lab, LabNotebook

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

NOTEBOOK = "chat-in-lab.ipynb"
TUTOR = '''import re
import time


def tutor(job):
    lesson = ("Loop over a list with `for`:\\n\\n```python\\nrivers = [\\"Nile\\", \\"Amazon\\"]\\n"
              "for river in rivers:\\n    print(river)\\n```\\n\\nEach pass takes **one** river.")
    def chunk(delta, finish=None):
        return {"object": "chat.completion.chunk", "model": "tutor",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    for word in re.findall(r"\\s*\\S+", lesson):
        time.sleep(0.15)  # slow enough for a loaded machine to show every stage
        yield chunk({"content": word})
    yield chunk({}, "stop")'''
SOURCES = [
    "%load_ext rp_jupyter",
    "%runpod local llm",
    "%%runpod chat --max-tokens 80 --param token_delay=0.03 -o talk\nWhat do rivers carry?",
    "%%runpod chat --max-tokens 10 --param token_delay=0 -o talk\nAnd lakes?",
    "print(len(talk.turns), len(talk.branches), all(t.key for t in talk.turns))",
    TUTOR,
    "%runpod local tutor",
    "%%runpod chat tutor\nHow do I loop over a list?",
]

READ_REPLY = """cell => {
  const out = cell.querySelector('.jp-Cell-outputArea');
  const md = out && out.querySelector('.jp-RenderedMarkdown');
  if (!md) return null;
  const code = md.querySelector('pre code');
  return {text: md.innerText, code: code ? code.textContent : null,
          strong: [...md.querySelectorAll('strong')].map(e => e.textContent),
          button: !!out.querySelector('button')};
}"""


class ChatLab(LabNotebook):
    def rerun(self, index: int) -> None:
        """Run a cell that has run already once more (as a reader does)."""
        self.ran.discard(index)
        self.run(index)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab-root")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in SOURCES]
    nbformat.write(nb, root / NOTEBOOK)
    ARTIFACTS.mkdir(exist_ok=True)
    server = Lab(root, tmp_path_factory.mktemp("lab-home"), ARTIFACTS / "jupyterlab-chat.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def notebook(browser, lab) -> Iterator[ChatLab]:
    from playwright.sync_api import expect

    lab.start_kernel_for(NOTEBOOK)
    page = browser.new_page()
    page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}")
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_visible(
        timeout=CELL_TIMEOUT_MS)
    expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(len(SOURCES))
    try:
        yield ChatLab(page, [("code", source) for source in SOURCES])
    finally:
        page.close()


@pytest.fixture(autouse=True)
def screenshot_on_failure(request, notebook) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        notebook.page.screenshot(path=str(ARTIFACTS / "browser-chat-failure.png"),
                                 full_page=True)


def sample_reply(notebook: ChatLab, index: int, screenshot: Path | None = None) -> list[dict]:
    """The reply as the page shows it, every 50 ms until its footer says it is done."""
    cell = notebook.cell(index)
    samples, deadline = [], time.monotonic() + 60
    while True:
        seen = cell.evaluate(READ_REPLY)
        if seen:
            samples.append(seen)
            if screenshot is not None and len(samples) == 8:
                cell.screenshot(path=str(screenshot))
            footer = seen["text"].splitlines()[-1]
            if "tokens/s" in footer and "streaming" not in footer:
                return samples
        assert time.monotonic() < deadline, f"the reply did not finish: {samples[-1:]}"
        notebook.page.wait_for_timeout(SAMPLE_EVERY_MS)


def body(sample: dict) -> str:
    """The reply's text without its footer line."""
    return sample["text"].rsplit("\n", 1)[0].strip() if "\n" in sample["text"] else ""


@pytest.mark.timeout(300)
def test_a_reply_grows_in_the_cell_and_ends_with_its_footer(notebook):
    index = 2
    notebook.run(index)  # returns at once: the reply goes on streaming into the cell
    samples = sample_reply(notebook, index, ARTIFACTS / "chat-streaming.png")
    texts = [body(s) for s in samples if body(s)]
    distinct = [t for t, _ in itertools.groupby(texts)]
    (ARTIFACTS / "chat-streaming-steps.json").write_text(
        json.dumps({"visible_lengths": [len(t) for t in distinct]}))
    assert len(distinct) >= 2, distinct  # the llm stand-in sends 1, 3, 9, 27... tokens at once
    for before, after in itertools.pairwise(distinct):
        assert after.startswith(before), (before, after)
    assert any(s["button"] for s in samples)  # the Cancel button while it streamed
    footer = samples[-1]["text"].splitlines()[-1]
    assert "llm · rp-jupyter/fake-llm" in footer and "80 out" in footer
    assert "first token" in footer


@pytest.mark.timeout(300)
def test_a_chat_cell_run_again_asks_its_turn_again(notebook):
    notebook.run(3)
    notebook.run(4)
    assert notebook.output_text(4).strip() == "2 0 True"  # JupyterLab sent each cell's id
    notebook.rerun(2)
    sample_reply(notebook, 2)
    notebook.rerun(4)
    assert notebook.output_text(4).strip() == "1 1 True"  # turn 1 again, turn 2 kept aside


@pytest.mark.timeout(300)
def test_a_markdown_reply_streams_in_and_shows_its_code_block(notebook):
    index = 7
    notebook.run(index)
    samples = sample_reply(notebook, index)
    texts = [t for t, _ in itertools.groupby(body(s) for s in samples if body(s))]
    assert len(texts) >= 6, texts  # one word at a time, re-rendered as it grows
    assert len(texts[0]) < len(texts[len(texts) // 2]) < len(texts[-1])
    assert any("rivers = [" in t and "print(river)" not in t for t in texts)  # mid-block
    final = samples[-1]
    assert final["code"].rstrip() == (
        'rivers = ["Nile", "Amazon"]\nfor river in rivers:\n    print(river)')
    assert final["strong"] == ["one"]
    assert final["text"].startswith("Loop over a list with for:")
    notebook.cell(index).screenshot(path=str(ARTIFACTS / "chat-markdown.png"))
