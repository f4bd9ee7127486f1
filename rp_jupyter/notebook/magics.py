"""``%runpod`` / ``%%runpod``: the magics class.  It wires; the work lives elsewhere.

Parsing is in :mod:`magic_args`, cell reading in :mod:`cell_input`, the commands in
:mod:`commands`, :mod:`run_cell` and :mod:`chat_cell`, display in :mod:`display` and
:mod:`chat_panel`, settings in :mod:`settings`.

Load with ``%load_ext rp_jupyter``; autoload with
``c.InteractiveShellApp.extensions = ["rp_jupyter"]``, or load lazily on first use with
``c.MagicsManager.lazy_magics = {"runpod": "rp_jupyter"}`` (in ``ipython_config.py`` or
``ipython_kernel_config.py``).
"""

from __future__ import annotations

import os
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, Enum, TraitError, Unicode, observe, validate

from rp_jupyter.api._constants import API_KEY_ENV, DEFAULT_BASE_URL
from rp_jupyter.api.errors import InvalidRequestError, RunpodError
from rp_jupyter.api.redact import Secret
from rp_jupyter.notebook import chat_cell, commands, cost_commands, run_cell
from rp_jupyter.notebook.cell_input import FORMATS, CellInputError
from rp_jupyter.notebook.chat_sessions import ChatSessions
from rp_jupyter.notebook.flag_values import endpoint_id_flag, http_url_flag
from rp_jupyter.notebook.local_control import KernelEndpoints
from rp_jupyter.notebook.magic_args import HELP, parse_line
from rp_jupyter.notebook.missing_endpoint import no_route_error
from rp_jupyter.notebook.settings import configured_base_url, effective_settings
from rp_jupyter.notebook.usage import (
    HelpShown,
    JobInterrupted,
    from_runpod_error,
    install_interrupt_display,
    uninstall_interrupt_display,
    usage_error,
)

__all__ = ["RunpodMagics", "load_ipython_extension", "unload_ipython_extension"]

_HANDLERS = {
    "run": run_cell.cmd_run,
    "chat": chat_cell.cmd_chat,
    "status": commands.cmd_status,
    "cancel": commands.cmd_cancel,
    "retry": commands.cmd_retry,
    "rerun": commands.cmd_rerun,
    "result": commands.cmd_result,
    "jobs": commands.cmd_jobs,
    "health": commands.cmd_health,
    "purge": commands.cmd_purge,
    "local": commands.cmd_local,
    "present": commands.cmd_present,
    "replay": commands.cmd_replay,
    "price": cost_commands.cmd_price,
    "cost": cost_commands.cmd_cost,
    "budget": cost_commands.cmd_budget,
    "endpoint": commands.cmd_endpoint,
    "login": commands.cmd_login,
    "logout": commands.cmd_logout,
    "config": commands.cmd_config,
    "help": commands.cmd_help,
}


@magics_class
class RunpodMagics(Magics):
    """The ``%runpod`` magics and their settings (``%config RunpodMagics``)."""

    default_endpoint = Unicode(
        None, allow_none=True, help="Endpoint id used when a command names none."
    ).tag(config=True)
    base_url = Unicode(
        None, allow_none=True,
        help="API base URL (default: RUNPOD_ENDPOINT_BASE_URL or https://api.runpod.ai/v2).",
    ).tag(config=True)
    cache = Enum(
        ("off", "use", "refresh"), None, allow_none=True,
        help="Default --cache: 'use' answers identical requests from the journal.",
    ).tag(config=True)
    block = Bool(
        None, allow_none=True,
        help="Block cells until the job is final (default: only when headless).",
    ).tag(config=True)
    text_key = Unicode("prompt", help="Input key for text cells.").tag(config=True)
    input_format = Enum(FORMATS, "auto", help="Default --format.").tag(config=True)
    execution_timeout = Unicode(
        None, allow_none=True, help="Default --timeout, e.g. '10m'."
    ).tag(config=True)
    ttl = Unicode(None, allow_none=True, help="Default --ttl, e.g. '1h'.").tag(config=True)
    cancel_on_exit = Bool(
        False, help="Cancel this session's unfinished jobs when the kernel shuts down (they "
        "are listed on stderr either way).",
    ).tag(config=True)
    forgotten_after = Unicode(
        "10m", help="An unfinished job is flagged as forgotten this long after it was sent.",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        self.set_by: dict[str, str] = {}  # trait -> the command that set it this session
        self.session_key: Secret | None = None
        self.session_jobs: list[Any] = []
        self.job_names: dict[str, str] = {}  # job id -> the variable its cell bound (-o)
        self.session_sweeps: list[Any] = []
        self.local = KernelEndpoints()
        self.chat_sessions = ChatSessions(shell)
        cost_commands.sync_settings(self)

    @validate("forgotten_after")
    def _valid_duration(self, proposal: Any) -> str:
        from rp_jupyter.notebook.durations import DurationError, parse_duration

        try:
            seconds = parse_duration(proposal["value"])
        except DurationError:
            seconds = -1.0
        if not seconds > 0:
            raise TraitError(f"forgotten_after must be a duration such as '10m' or '90s', "
                             f"not {proposal['value']!r}")
        return proposal["value"]

    @observe("cancel_on_exit", "forgotten_after")
    def _settings_changed(self, change: Any) -> None:
        cost_commands.sync_settings(self)

    @no_var_expand
    @line_cell_magic
    def runpod(self, line: str, cell: str | None = None) -> Any:
        # A trailing ';' silences the value.  (Not IPython's output_can_be_silenced: it
        # tokenizes the cell as Python, which fails on text such as "Tell me [" -- after
        # the job was sent.)
        silenced = (cell if cell is not None else line).rstrip().endswith(";")
        if cell is None and silenced:
            line = line.rstrip()[:-1]
        known = len(self.session_jobs)
        try:
            command, args = parse_line(line)
            result = _HANDLERS[command](self, args, cell)
            return None if silenced else result
        except HelpShown:
            return None
        except JobInterrupted:
            raise
        except KeyboardInterrupt:
            raise JobInterrupted(interrupted_line(self.session_jobs[known:])) from None
        except RunpodError as exc:
            raise from_runpod_error(exc) from None
        except CellInputError as exc:
            raise usage_error(str(exc), exc.hint) from None

    runpod.__doc__ = HELP

    # -- shared helpers for the commands ---------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {name: s.value for name, s in effective_settings(self).items()}

    def set_trait(self, name: str, value: Any, source: str | None = None) -> None:
        """Set a setting; ``source`` names the command that set it.  (traitlets calls this
        without one while it applies ``%config``: then it is traitlets' own.)"""
        if source is None:
            super().set_trait(name, value)
            return
        setattr(self, name, value)
        self.set_by[name] = source

    def api_key(self) -> str | None:
        if self.session_key is not None:
            return self.session_key.reveal()
        return os.environ.get(API_KEY_ENV) or None

    def endpoint(self, endpoint_id: str | None = None, base_url: str | None = None, *,
                 journaled: bool = False) -> Any:
        """An :class:`Endpoint` from the flags and the effective settings.

        This kernel's local endpoints get no key (they are open) and their handler's
        ``cache_scope``; a ``base_url`` read from the journal (``journaled``) gets the key
        only if it belongs there (the hosted API or the configured base URL)."""
        from rp_jupyter.jobs.endpoint import Endpoint
        from rp_jupyter.jobs.key_scope import key_belongs_to

        settings = self.settings()
        endpoint_id = endpoint_id or settings["default_endpoint"]
        if not endpoint_id:
            raise usage_error(
                "no endpoint: name one, or set a default",
                "%%runpod run ENDPOINT, or %runpod endpoint ID (or %runpod local to start "
                "one on this machine)",
            )
        endpoint_id = endpoint_id_flag(endpoint_id)
        if base_url:
            http_url_flag("--base-url", base_url, "http://127.0.0.1:8000/v2")
        local_url = self.local.base_url_for(endpoint_id)
        configured = configured_base_url(self).value
        base_url = (base_url or local_url or configured).rstrip("/")
        key, scope = self.api_key(), None
        if local_url is not None and base_url == local_url:
            key, scope = "", self.local.cache_scope_for(endpoint_id)  # "": send no key
        elif journaled and not key_belongs_to(base_url, configured=configured):
            key = ""
        if key is None and base_url == DEFAULT_BASE_URL:
            raise no_route_error(endpoint_id, list(self.local.handlers) if self.local.running
                                 else [])
        try:
            return Endpoint(endpoint_id, base_url=base_url, api_key=key, cache_scope=scope)
        except InvalidRequestError as exc:
            raise from_runpod_error(exc) from None

    def remember(self, job: Any, name: str | None = None) -> None:
        self.session_jobs.append(job)
        if name:
            self.job_names[job.id] = name


def interrupted_line(started: list[Any]) -> str:
    """What an interrupted command left behind, when no wait said it already: the job it
    had started (not cancelled), or where to look for one."""
    if started:
        job = started[-1]
        return (f"Interrupted: job {job.id} on endpoint {job.endpoint_id} was not cancelled; "
                f"%runpod cancel {job.id} stops it")
    return ("Interrupted before a job was started here; if the request reached the "
            "endpoint, %runpod jobs lists it")


def load_ipython_extension(ip: Any) -> None:
    """Register the magics and the live display of ``Job`` objects."""
    from rp_jupyter.notebook.chat_panel import register_chat_display
    from rp_jupyter.notebook.display import register_job_display

    magics = RunpodMagics(ip)
    ip.register_magics(magics)
    register_job_display(ip)
    register_chat_display(ip)
    install_interrupt_display(ip)


def unload_ipython_extension(ip: Any) -> None:
    from rp_jupyter.notebook.chat_panel import unregister_chat_display
    from rp_jupyter.notebook.display import unregister_job_display

    unregister_job_display(ip)
    unregister_chat_display(ip)
    uninstall_interrupt_display(ip)
    registry = ip.magics_manager.registry
    magics = registry.pop("RunpodMagics", None)
    ip.magics_manager.magics["line"].pop("runpod", None)
    ip.magics_manager.magics["cell"].pop("runpod", None)
    if magics is not None:
        magics.local.stop()
        magics.chat_sessions.close()
