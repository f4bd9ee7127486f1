"""Where the code runs, which decides how a job is shown and whether a cell blocks.

- ``live``: a kernel whose frontend can show widgets and take input (JupyterLab, Notebook 7,
  VS Code, Colab).  Cells return at once with a live panel.
- ``headless``: a kernel driven by nbclient / nbconvert / papermill, which send
  ``allow_stdin: false`` with every cell and drop messages that arrive after the cell ends.
  Cells block and end with a static rendering.
- ``terminal``: plain IPython (no kernel, no widgets).  Cells block and print text lines.

``RP_JUPYTER_BLOCK=1`` makes every cell block, ``0`` none; ``--wait`` / ``--no-wait`` on a
cell win over both.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from rp_jupyter.env_names import BLOCK_ENV

DisplayMode = Literal["live", "headless", "terminal"]

__all__ = ["DisplayMode", "display_mode", "should_block"]


def display_mode(shell: Any = None) -> DisplayMode:
    """``live``, ``headless`` or ``terminal`` for the running shell (see the module doc)."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return "terminal"
        shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return "terminal"
    if not getattr(kernel, "_allow_stdin", False):
        return "headless"
    return "live"


def should_block(mode: DisplayMode, wait: bool | None = None) -> bool:
    """Block in the cell?

    ``wait`` is an explicit choice (``--wait`` / ``--no-wait``, or ``RunpodMagics.block``)
    and wins; then ``RP_JUPYTER_BLOCK``; otherwise cells block unless the frontend is live.
    """
    if wait is not None:
        return wait
    env = os.environ.get(BLOCK_ENV, "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    return mode != "live"
