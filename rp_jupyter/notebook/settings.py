"""The effective settings of the magics, and where each one comes from.

Precedence, highest first: a command's own flags; ``%runpod endpoint`` / ``%runpod login``
/ ``%runpod local`` in this session; traitlets config (``%config RunpodMagics.x = ...`` or
``c.RunpodMagics.x`` in ``ipython_config.py``); environment variables; built-in defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rp_jupyter.api.client_policy import DEFAULT_BASE_URL
from rp_jupyter.env_names import (
    API_KEY_ENV,
    BASE_URL_ENV,
    BLOCK_ENV,
    CACHE_ENV,
    ENDPOINT_ID_ENV,
    HOME_ENV,
)
from rp_jupyter.notebook.context import display_mode

if TYPE_CHECKING:
    from rp_jupyter.notebook.magics import RunpodMagics

__all__ = ["Setting", "configured_base_url", "effective_settings"]


@dataclass(frozen=True)
class Setting:
    name: str
    value: Any
    source: str


def _trait(magics: RunpodMagics, name: str, env: str | None, default: Any) -> Setting:
    value = getattr(magics, name)
    if value is not None and value != magics.trait_defaults(name):
        return Setting(name, value, magics.set_by.get(name, "config (RunpodMagics)"))
    if env and os.environ.get(env):
        return Setting(name, os.environ[env], f"environment ({env})")
    return Setting(name, default if value is None else value, "default")


def configured_base_url(magics: RunpodMagics) -> Setting:
    """The base URL for endpoints that are not local ones started in this kernel."""
    return _trait(magics, "base_url", BASE_URL_ENV, DEFAULT_BASE_URL)


def effective_settings(magics: RunpodMagics) -> dict[str, Setting]:
    """Every setting the magics use, with its value and its source."""
    endpoint = _trait(magics, "default_endpoint", ENDPOINT_ID_ENV, None)
    local_url = magics.local.base_url_for(endpoint.value) if endpoint.value else None
    settings = {
        "default_endpoint": endpoint,
        "base_url": (Setting("base_url", local_url, f"%runpod local ({endpoint.value})")
                     if local_url else configured_base_url(magics)),
        "cache": _trait(magics, "cache", CACHE_ENV, "off"),
        "text_key": _trait(magics, "text_key", None, "prompt"),
        "input_format": _trait(magics, "input_format", None, "auto"),
        "execution_timeout": _trait(magics, "execution_timeout", None, None),
        "ttl": _trait(magics, "ttl", None, None),
        "forgotten_after": _trait(magics, "forgotten_after", None, "10m"),
        "cancel_on_exit": _trait(magics, "cancel_on_exit", None, False),
    }
    if magics.block is not None:
        block = Setting("block", magics.block, "config (RunpodMagics)")
    elif os.environ.get(BLOCK_ENV):
        block = Setting("block", os.environ[BLOCK_ENV], f"environment ({BLOCK_ENV})")
    else:
        block = Setting("block", "auto", "default (block when headless or in a terminal)")
    settings["block"] = block
    if magics.session_key is not None:
        key = Setting("api_key", "set (hidden)", "%runpod login")
    elif os.environ.get(API_KEY_ENV):
        key = Setting("api_key", "set (hidden)", f"environment ({API_KEY_ENV})")
    else:
        key = Setting("api_key", "not set", "–")
    settings["api_key"] = key
    settings["display"] = Setting("display", display_mode(magics.shell), "detected")
    from rp_jupyter.jobs.journal import default_journal_path

    settings["journal"] = Setting("journal", str(default_journal_path()),
                                  HOME_ENV if os.environ.get(HOME_ENV)
                                  else "default")
    return settings


class SettingsReport:
    """``%runpod config``: a table with text and HTML forms (the key is never shown)."""

    def __init__(self, settings: dict[str, Setting]) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        width = max(len(name) for name in self.settings)
        return "\n".join(f"{name:<{width}}  {s.value!s:<40}  {s.source}"
                         for name, s in self.settings.items())

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td><code>{escape(name)}</code></td><td>{escape(str(s.value))}</td>"
            f"<td>{escape(s.source)}</td></tr>" for name, s in self.settings.items())
        return ("<table><thead><tr><th>setting</th><th>value</th><th>source</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")
