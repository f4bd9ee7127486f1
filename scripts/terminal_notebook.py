"""Run a notebook's cells in a plain IPython shell, printing them as they run.

Used by ``scripts/demo.sh``: the same notebook a user opens in JupyterLab, shown in a
terminal, where rp_jupyter prints streamed output as text lines.
"""

from __future__ import annotations

import sys
import textwrap

import nbformat
from IPython.core.interactiveshell import InteractiveShell


def main(path: str) -> int:
    nb = nbformat.read(path, as_version=4)
    shell = InteractiveShell.instance()
    failed = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = "\n".join(line.lstrip("#").strip() for line in cell.source.splitlines())
            print("\n" + textwrap.indent(text.strip(), "  │ "))
        elif cell.cell_type == "code" and cell.source.strip():
            print(f"\nIn [{shell.execution_count}]: " + cell.source.replace("\n", "\n   ...: "))
            result = shell.run_cell(cell.source, store_history=True)
            sys.stdout.flush()
            if not result.success:
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
