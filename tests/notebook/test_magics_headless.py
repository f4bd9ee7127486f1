"""A notebook of magics run headless in a real kernel (nbclient): saved outputs are final."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

KEY = "rpa_HEADLESS_SECRET_42"


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return nb


def outputs_text(cell) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        for mime in ("text/plain", "text/html"):
            parts.append(str(output.get("data", {}).get(mime, "")))
    return "\n".join(parts)


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_headless_run_saves_final_results(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", KEY)
    nb = notebook(
        "%load_ext rp_jupyter",
        "%runpod local tokens",
        '%%runpod run\n{"prompt": "alpha beta gamma delta", "rate": 40}',
        '%%runpod run --sync -o synced\n{"prompt": "epsilon zeta", "rate": 40}',
        "synced.result()",
        "%runpod result",
        "%runpod config",
    )
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    saved = tmp_path / "saved.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text()

    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert errors == []
    run_cell = outputs_text(nb.cells[2])
    assert "alpha beta gamma delta" in run_cell
    assert "COMPLETED" in run_cell
    assert "application/vnd.jupyter.widget-view+json" not in json.dumps(nb.cells[2].outputs)
    assert "epsilon zeta" in outputs_text(nb.cells[3])
    assert "['epsilon ', 'zeta ']" in outputs_text(nb.cells[4])
    assert "epsilon" in outputs_text(nb.cells[5])
    assert KEY not in text
