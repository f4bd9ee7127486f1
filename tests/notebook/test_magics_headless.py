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


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_autoload_through_interactive_shell_app_extensions(tmp_path):
    """The documented autoload: ``c.InteractiveShellApp.extensions = ["rp_jupyter"]``."""
    nb = notebook("%runpod help")
    NotebookClient(nb, timeout=60, kernel_name="python3",
                   extra_arguments=["--InteractiveShellApp.extensions=rp_jupyter"],
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert "Commands:" in outputs_text(nb.cells[0])


def test_lazy_magics_load_the_extension_on_first_use():
    """The documented lazy loading: ``c.MagicsManager.lazy_magics = {"runpod": "rp_jupyter"}``."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryAccessor.enabled = False
    config.MagicsManager.lazy_magics = {"runpod": "rp_jupyter"}
    shell = InteractiveShell.instance(config=config)
    try:
        assert "RunpodMagics" not in shell.magics_manager.registry
        assert shell.run_cell("%runpod endpoint lazy-one").success
        assert shell.magics_manager.registry["RunpodMagics"].default_endpoint == "lazy-one"
    finally:
        shell.extension_manager.unload_extension("rp_jupyter")
        InteractiveShell.clear_instance()
