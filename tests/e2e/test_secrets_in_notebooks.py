"""A notebook that uses secrets, run in a real kernel by nbclient and saved: they are
nowhere in the saved file or the journal, even where a handler echoes them back in its
output or its error (issue 13)."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from tests.e2e.conftest import cell_text

pytestmark = pytest.mark.e2e

SECRET = "hf_E2E-NOTEBOOK-SECRET-4242"
S3_SECRET = "s3-E2E-SECRET-KEY-77"
S3_ID = "AKIA-E2E-ACCESS-ID-77"

CELLS = [
    "%load_ext rp_jupyter",
    "%runpod local echo --id echo\n%runpod local chaos --id chaos",
    "import os\nfrom rp_jupyter import Secret\ntoken = Secret(os.environ['E2E_HF_TOKEN'])",
    '%%runpod run echo --wait\n{"prompt": "hi", "token": {{ token }}}',
    '%%runpod run echo --dry-run\n{"prompt": "hi", "token": {{ token }}}',
    "%%runpod run chaos --wait\n{'fail': token}",
    "from rp_jupyter.notebook.sweep_inputs import as_endpoint\n"
    "s3 = {'accessId': os.environ['E2E_S3_ID'], 'accessSecret': os.environ['E2E_S3_KEY'], "
    "'bucketName': 'b', 'endpointUrl': 'https://s3.example.com'}\n"
    "job = as_endpoint('echo').run({'token': token}, s3_config=s3)\n"
    "job.result(timeout=60)\njob",
    "print(repr(job.request), job.input)",
    "%runpod jobs",
    "import io\nfrom rp_jupyter.jobs.journal import JobJournal\nout = io.StringIO()\n"
    "JobJournal.open().export_jsonl(out)\nprint(out.getvalue())",
    "%runpod local --stop",
]


def test_a_saved_notebook_holds_no_secret(tmp_path, rp_home, monkeypatch):
    for name, value in (("E2E_HF_TOKEN", SECRET), ("E2E_S3_ID", S3_ID),
                        ("E2E_S3_KEY", S3_SECRET)):
        monkeypatch.setenv(name, value)  # the kernel reads them, as a user's would
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    path = tmp_path / "secrets.ipynb"
    nbformat.write(nb, path)
    saved = path.read_text(encoding="utf-8")
    for secret in (SECRET, S3_SECRET, S3_ID):
        assert secret not in saved, f"{secret} is in the saved notebook"
    journal = b"".join(p.read_bytes() for p in rp_home.glob("journal.sqlite3*"))
    assert journal and not any(s.encode() in journal for s in (SECRET, S3_SECRET, S3_ID))

    shown = [cell_text(cell) for cell in nb.cells]
    assert '"token": "********"' in shown[3]  # the echo of the secret, masked
    assert '"token": "********"' in shown[4] and "Dry run" in shown[4]
    assert "FAILED" in shown[5] and "********" in shown[5]  # RuntimeError(secret), masked
    assert shown[7].count("********") >= 3  # token, accessId, accessSecret
    assert "COMPLETED" in shown[8] and "FAILED" in shown[8]
    assert shown[9].count('"job_id"') == 3
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
