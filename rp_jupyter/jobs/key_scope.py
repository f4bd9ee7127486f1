"""Where the Runpod API key may go when nobody named the host: the one rule.

The key in ``RUNPOD_API_KEY`` (or given to ``%runpod login``) belongs to the hosted API and
to the base URL the user configured (``RUNPOD_ENDPOINT_BASE_URL``, or
``%runpod endpoint --base-url``).  A job read back from the journal may point anywhere
else: a local endpoint's loopback port, which another process may hold by now.  Such a job
is followed without the key.

Example::

    >>> key_belongs_to("https://api.runpod.ai/v2")
    True
    >>> key_belongs_to("http://127.0.0.1:8731/v2")
    False
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from rp_jupyter.api.client_policy import DEFAULT_BASE_URL
from rp_jupyter.api.redact import Secret
from rp_jupyter.env_names import API_KEY_ENV, BASE_URL_ENV

__all__ = ["env_key_for", "key_belongs_to"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def key_belongs_to(base_url: str, *, configured: str | None = None) -> bool:
    """Whether the user's Runpod key may be sent to ``base_url``: the hosted API, the
    ``configured`` base URL, or (when none is given) ``RUNPOD_ENDPOINT_BASE_URL``."""
    if configured is None:
        configured = os.environ.get(BASE_URL_ENV) or None
    target = _normal(base_url)
    return target is not None and target in {_normal(DEFAULT_BASE_URL), _normal(configured)}


def env_key_for(base_url: str) -> Secret | None:
    """``RUNPOD_API_KEY`` for a job followed at ``base_url`` without anyone naming a key
    (adopted from the journal), or ``None`` when the key does not belong there."""
    key = (os.environ.get(API_KEY_ENV) or "").strip()
    if not key or not key_belongs_to(base_url):
        return None
    return Secret(key)


def _normal(url: str | None) -> tuple[str, str, int | None, str] | None:
    """Scheme, host, port and path, compared the way a connection would be made."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port, parts.path.rstrip("/")
