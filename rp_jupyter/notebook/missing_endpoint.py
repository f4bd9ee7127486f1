"""The message for an endpoint that cannot be reached as named: a name that is not a local
endpoint running here (a typo, or one from before a restart) is told apart from a hosted
endpoint that needs the API key, so neither is answered with the other's fix."""

from __future__ import annotations

import difflib
from urllib.parse import urlsplit

from IPython.core.error import UsageError

from rp_jupyter.env_names import API_KEY_ENV
from rp_jupyter.notebook.usage import usage_error

__all__ = ["no_route_error"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
KEY_HINT = f"run %runpod login, or set {API_KEY_ENV} before starting Jupyter"


def _was_local(endpoint_id: str) -> bool:
    """True when the journal last saw ``endpoint_id`` on a loopback address."""
    from rp_jupyter.jobs.journal import JobJournal

    try:
        records = JobJournal.open().list(endpoint_id=endpoint_id, limit=1)
    except Exception:  # a journal that cannot be read must not hide the real message
        return False
    return bool(records) and urlsplit(records[0].base_url).hostname in LOOPBACK


def no_route_error(endpoint_id: str, running: list[str]) -> UsageError:
    """Why ``endpoint_id`` cannot be used without an API key, and what to do.

    ``running`` are the ids of the local endpoints running in this kernel.

    Example::

        raise no_route_error("token", ["tokens"])
        # 'token' is not a local endpoint running here (running: tokens)
        # Hint: did you mean 'tokens'? ...
    """
    if running:
        close = difflib.get_close_matches(endpoint_id, running, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        return usage_error(
            f"{endpoint_id!r} is not a local endpoint running here (running: "
            f"{', '.join(running)})",
            f"{guess}start it with %runpod local HANDLER --id {endpoint_id}; for a hosted "
            f"endpoint of that id, {KEY_HINT}",
        )
    if _was_local(endpoint_id):
        return usage_error(
            f"{endpoint_id!r} was a local endpoint, and no local endpoint runs in this "
            "kernel now (they stop with the kernel)",
            f"start it again: %runpod local HANDLER --id {endpoint_id} (e.g. %runpod local "
            f"{endpoint_id} for an example handler of that name)",
        )
    return usage_error(
        f"endpoint {endpoint_id!r} is on the hosted Runpod API, which needs your API key",
        f"{KEY_HINT} (or %runpod local HANDLER for an endpoint on this machine)",
    )
