"""A local Runpod-compatible endpoint: the job API on loopback, handlers in worker processes.

Nothing here imports Starlette or uvicorn until a server starts.

Example::

    from rp_jupyter.local import LocalEndpoint

    with LocalEndpoint("tokens") as ep:
        ...  # point RUNPOD_ENDPOINT_BASE_URL at ep.base_url, use endpoint id ep.endpoint_id
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "LocalEndpoint": "rp_jupyter.local.server",
    "LocalServer": "rp_jupyter.local.server",
    "EndpointHandle": "rp_jupyter.local.server",
    "EndpointSettings": "rp_jupyter.local.endpoint_settings",
    "RateLimit": "rp_jupyter.local.endpoint_settings",
    "DOCUMENTED_RATE_LIMITS": "rp_jupyter.local.endpoint_settings",
    "Faults": "rp_jupyter.local.faults",
    "HandlerSpec": "rp_jupyter.local.handler_spec",
    "HandlerLoadError": "rp_jupyter.local.scripts",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rp_jupyter.local' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from rp_jupyter.local.endpoint_settings import (  # noqa: F401
        DOCUMENTED_RATE_LIMITS,
        EndpointSettings,
        RateLimit,
    )
    from rp_jupyter.local.faults import Faults  # noqa: F401
    from rp_jupyter.local.handler_spec import HandlerSpec  # noqa: F401
    from rp_jupyter.local.scripts import HandlerLoadError  # noqa: F401
    from rp_jupyter.local.server import EndpointHandle, LocalEndpoint, LocalServer  # noqa: F401
