"""Real workers' outputs in a real kernel run by nbclient (as nbconvert and papermill run
notebooks): while each job runs, the one output the cell keeps updating shows what a person
came for (running text, a progress bar); the saved notebook, reopened without a kernel,
carries the reply text, the pictures as image/png, the transcript and the summary."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image

from tests.e2e.conftest import ARTIFACTS
from tests.workers import file_site, stand_in_server
from tests.workers.fake_text import tokens
from tests.workers.pictures import png

pytestmark = pytest.mark.e2e

CHAT = [{"role": "user", "content": "Tell me about the lighthouse"}]


class RecordingClient(NotebookClient):
    """nbclient, keeping every display and display update each cell sent, in order."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.shown: dict[int, list[dict]] = {}

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] in ("display_data", "update_display_data"):
            self.shown.setdefault(cell_index, []).append(msg["content"]["data"])
        return super().process_message(msg, cell, cell_index)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, str]]:
    site = tmp_path_factory.mktemp("site")
    (site / "flux.png").write_bytes(png(192, 128, seed=9))
    with stand_in_server() as server, file_site(site) as files:
        yield server.base_url, f"{files}/flux.png"


def cells(picture_url: str) -> dict[str, str]:
    jobs = {
        "vllm": ("vllm -o reply", {"prompt": "Tell me", "stream": True, "delay": 0.4,
                                   "sampling_params": {"max_tokens": 40}}),
        "sse": ("vllm_proxy", {"messages": CHAT, "stream": True, "seed": 4, "delay": 0.02,
                               "sampling_params": {"max_tokens": 30}}),
        "comfyui": ("comfyui", {"workflow": {"steps": 5, "size": [192, 128]}, "delay": 0.6}),
        "sdxl": ("sdxl", {"width": 64, "height": 48, "num_images": 2, "seed": 1}),
        "public": ("public_image", {"url": picture_url}),
        "whisper": ("whisper", {"audio": "https://example.invalid/a.wav",
                                "transcription": "srt"}),
        "embedding": ("embedding -o vectors", {"input": ["a", "b"], "dimensions": 384}),
    }
    sources = {"setup": "%load_ext rp_jupyter"}
    for name, (line, body) in jobs.items():
        sources[name] = f"%%runpod run {line}\n{json.dumps(body)}"
    sources["values"] = "print(repr(reply.text)); print(vectors.embeddings.shape)"
    return sources


def png_size(data: dict) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(data["image/png"]))).size


def test_each_format_live_and_saved_in_a_real_kernel(served, tmp_path, monkeypatch):
    base_url, picture_url = served
    monkeypatch.setenv("RUNPOD_ENDPOINT_BASE_URL", base_url)
    sources = cells(picture_url)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources.values()]
    index = {name: i for i, name in enumerate(sources)}
    client = RecordingClient(nb, timeout=120, startup_timeout=60, kernel_name="python3",
                             resources={"metadata": {"path": str(tmp_path)}})
    path = tmp_path / "formats.ipynb"
    try:
        client.execute()
    finally:
        nbformat.write(nb, path)
        if any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", [])):
            ARTIFACTS.mkdir(exist_ok=True)
            path.with_name("failed-formats.ipynb").write_text(path.read_text())
    saved = nbformat.read(path, as_version=4)  # reopened without a kernel

    def final(name: str) -> dict:
        outputs = saved.cells[index[name]].outputs
        assert len(outputs) == 1 and outputs[0].output_type == "display_data", outputs
        return outputs[0].data

    def live(name: str) -> list[str]:
        return [d["text/plain"] for d in client.shown[index[name]]
                if "IN_PROGRESS" in d["text/plain"].split("\n", 1)[0]]

    reply = "".join(tokens(40))
    running = [text for text in live("vllm") if "The lighthouse" in text]
    assert running and all(reply not in text and "choices" not in text for text in running)
    vllm = final("vllm")
    assert f"{reply}\n[2 tokens in · 40 out · " in vllm["text/plain"]
    assert reply in vllm["text/html"] and '"choices"' not in vllm["text/html"]

    sse = final("sse")
    assert "".join(tokens(30)) in sse["text/plain"] and "data:" not in sse["text/html"]
    assert "finish: length · model stand-in" in sse["text/plain"]

    assert any(re.search(r"^progress [1-5]/5 · sampling$", text, re.M) for text in live("comfyui"))
    comfy = final("comfyui")
    assert png_size(comfy) == (192, 128) and comfy["text/html"].count("<img ") == 1

    sdxl = final("sdxl")
    assert png_size(sdxl) == (64 * 2 + 4, 48) and sdxl["text/html"].count("<img ") == 2

    public = final("public")
    assert png_size(public) == (192, 128)
    assert "1 image from public endpoint · cost $0.0024" in public["text/plain"]

    whisper = final("whisper")["text/plain"]
    assert "00:02.500 → 00:05.250  He wrote their names in a small blue book.\n" in whisper
    assert "\\n" not in whisper

    embedding = final("embedding")
    assert "2 embeddings × 384 dimensions · model BAAI/bge-small-en-v1.5" in (
        embedding["text/plain"])
    assert len(embedding["text/plain"]) < 1_000

    printed = saved.cells[index["values"]].outputs[0].text
    assert printed == f"{reply!r}\n(2, 384)\n"
