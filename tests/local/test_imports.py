"""Import hygiene: the local endpoint stays light and separate from the client side."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import rp_jupyter.local

PACKAGE = pathlib.Path(rp_jupyter.local.__file__).parent


def _modules_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c",
                           code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                          capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_importing_the_package_and_its_settings_loads_no_web_framework():
    loaded = _modules_after(
        "import rp_jupyter, rp_jupyter.local\n"
        "from rp_jupyter.local import EndpointSettings, Faults, RateLimit, LocalEndpoint\n"
        "LocalEndpoint")
    assert not {m for m in loaded if m.split(".")[0] in ("starlette", "uvicorn", "httpx")}


def test_the_worker_process_loads_no_web_framework():
    loaded = _modules_after("import rp_jupyter.local.worker_main")
    assert not {m for m in loaded if m.split(".")[0] in ("starlette", "uvicorn", "httpx")}


def test_the_local_package_never_imports_the_client_side():
    forbidden = ("rp_jupyter.api", "rp_jupyter.jobs", "rp_jupyter.notebook")
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
