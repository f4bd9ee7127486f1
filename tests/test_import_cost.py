"""Importing rp_jupyter, and loading the extension, stay cheap: no server, HTTP, widget or
imaging library is imported until it is used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("starlette", "uvicorn", "httpx", "ipywidgets", "PIL", "platformdirs")


def imported_after(code: str) -> list[str]:
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_importing_the_package_imports_no_heavy_library():
    assert imported_after("import rp_jupyter") == []


def test_importing_the_local_package_does_not_start_a_web_framework():
    assert imported_after("import rp_jupyter.local") == []


def test_loading_the_extension_imports_no_server_http_widget_or_imaging_library():
    code = ("from IPython.core.interactiveshell import InteractiveShell\n"
            "InteractiveShell.instance().extension_manager.load_extension('rp_jupyter')")
    assert imported_after(code) == []
