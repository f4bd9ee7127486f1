"""Helpers shared by sweeps and the playground: endpoints given by id, parameter grids,
and parameters written into an input at dotted paths (``options.temperature``)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["as_endpoint", "describe_params", "parameter_grid", "with_params"]


def as_endpoint(endpoint: Any) -> Any:
    """An ``Endpoint`` as given, or one built from an id string: with the magics' settings
    when ``%load_ext rp_jupyter`` is loaded (so ``%runpod local``, ``%runpod login`` and
    ``%runpod endpoint --base-url`` apply), else from the environment (``RUNPOD_API_KEY``,
    ``RUNPOD_ENDPOINT_BASE_URL``)."""
    from rp_jupyter.jobs.endpoint import Endpoint

    if isinstance(endpoint, Endpoint):
        return endpoint
    if isinstance(endpoint, str):
        magics = _loaded_magics()
        return magics.endpoint(endpoint) if magics is not None else Endpoint(endpoint)
    raise TypeError(
        f"endpoint must be an Endpoint or an endpoint id, not {type(endpoint).__name__}"
    )


def _loaded_magics() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None:
        return None
    return shell.magics_manager.registry.get("RunpodMagics")


def _values(name: str, values: Any) -> list[Any]:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        return [values]  # one value: the same for every job
    listed = list(values)
    if not listed:
        raise ValueError(f"sweep parameter {name!r} has no values")
    return listed


def parameter_grid(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the values, first parameter varying slowest.

    Example::

        >>> parameter_grid({"temperature": [0.2, 0.7], "seed": [1, 2]})[:2]
        [{'temperature': 0.2, 'seed': 1}, {'temperature': 0.2, 'seed': 2}]
    """
    if not params:
        raise ValueError("a sweep needs at least one parameter, e.g. temperature=[0.2, 0.7]")
    names = list(params)
    columns = [_values(name, params[name]) for name in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*columns)]


def with_params(template: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``template`` with each parameter set; dotted names set nested keys.

    Example::

        >>> with_params({"prompt": "hi", "options": {"top_p": 1}}, {"options.temperature": 0.5})
        {'prompt': 'hi', 'options': {'top_p': 1, 'temperature': 0.5}}
    """
    result = copy.deepcopy(dict(template))
    for name, value in params.items():
        *parents, leaf = name.split(".")
        node = result
        for index, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parents[: index + 1])
                raise ValueError(
                    f"cannot set {name!r}: {where!r} is a {type(child).__name__}, not an object"
                )
            node = child
        node[leaf] = value
    return result


def describe_params(params: Mapping[str, Any]) -> str:
    """``temperature=0.2 · seed=1``."""
    return " · ".join(f"{name}={value}" for name, value in params.items())
