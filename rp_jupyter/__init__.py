"""rp_jupyter: Runpod Serverless endpoints in Jupyter and IPython.

``%load_ext rp_jupyter`` registers the ``%runpod`` / ``%%runpod`` magics; the Python API
(:class:`Endpoint`, :class:`Job`, ...) works anywhere.  Importing the package is cheap: the
names below are loaded on first use, so no HTTP, widget, imaging or server library is
imported until it is needed.

Example::

    import rp_jupyter
    ep = rp_jupyter.Endpoint("my-endpoint")
    job = ep.run({"prompt": "hello"})
    print(job.result())
    print(ep.chat([{"role": "user", "content": "Hello"}]).text)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rp_jupyter._version import __version__
from rp_jupyter.lazy_exports import exports

# public name -> module that defines it: the TYPE_CHECKING imports at the end of this file
_EXPORTS: dict[str, str] = exports(__file__)

__all__ = [
    "__version__",
    "formats",
    "jobs",
    "load_ipython_extension",
    "unload_ipython_extension",
    *_EXPORTS,
]


def __getattr__(name: str) -> Any:
    if name == "jobs":  # the subpackage is callable: rp_jupyter.jobs(...) lists the journal
        return importlib.import_module("rp_jupyter.jobs")
    if name == "formats":  # the output shapes of real workers (standard library only)
        return importlib.import_module("rp_jupyter.formats")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rp_jupyter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%runpod`` and ``%%runpod`` (called by ``%load_ext rp_jupyter``)."""
    from rp_jupyter.notebook.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Undo :func:`load_ipython_extension` (called by ``%unload_ext rp_jupyter``)."""
    from rp_jupyter.notebook.magics import unload_ipython_extension as unload

    unload(ipython)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from rp_jupyter.api.errors import (  # noqa: F401
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BudgetExceededError,
        EndpointNotFoundError,
        InvalidRequestError,
        JobCancelledError,
        JobError,
        JobExpiredError,
        JobFailedError,
        JobLostError,
        JobNotFoundError,
        JobTimedOutError,
        NotFoundError,
        RateLimitError,
        RouteNotFoundError,
        RunpodError,
        ServerError,
        StreamGapWarning,
        WaitTimeoutError,
    )
    from rp_jupyter.api.models import Health, JobStatus  # noqa: F401
    from rp_jupyter.api.redact import Secret  # noqa: F401
    from rp_jupyter.formats.inputs import b64, data_url  # noqa: F401
    from rp_jupyter.jobs.budget import budget  # noqa: F401
    from rp_jupyter.jobs.chat import Chat  # noqa: F401
    from rp_jupyter.jobs.chat_reply import ChatReply  # noqa: F401
    from rp_jupyter.jobs.cost import set_price  # noqa: F401
    from rp_jupyter.jobs.cost_report import cost  # noqa: F401
    from rp_jupyter.jobs.downloads import configure_downloads  # noqa: F401
    from rp_jupyter.jobs.endpoint import Endpoint  # noqa: F401
    from rp_jupyter.jobs.health_watch import why_waiting  # noqa: F401
    from rp_jupyter.jobs.history import result  # noqa: F401
    from rp_jupyter.jobs.job import Job  # noqa: F401
    from rp_jupyter.jobs.output_files import SavedFile  # noqa: F401
    from rp_jupyter.notebook.health_panel import health_panel  # noqa: F401
    from rp_jupyter.notebook.playground import playground  # noqa: F401
    from rp_jupyter.notebook.renderers import renderers  # noqa: F401
    from rp_jupyter.notebook.sweep import sweep  # noqa: F401
