"""The engine: a background event-loop thread, Job handles, tracking, streaming, the journal.

The package is also callable, so that ``rp_jupyter.jobs(...)`` lists journaled jobs (see
:func:`rp_jupyter.jobs.history.jobs`) while ``rp_jupyter.jobs.journal`` and friends stay
importable modules.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from rp_jupyter.jobs.history import jobs

        return jobs(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
