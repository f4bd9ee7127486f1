"""The conversations of a notebook, and which cell asked which turn.

``%%runpod chat`` cells add turns to one conversation per endpoint, or to the one named
with ``-o NAME`` (a :class:`~rp_jupyter.Chat` bound to that variable), until ``--new``.
Where the frontend sends a cell's id with each run (JupyterLab and Notebook 7 do; IPython
hands it to ``pre_run_cell``), a turn remembers its cell, so running that cell again asks
that turn again from the turns before it (see :class:`~rp_jupyter.Chat`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ChatSessions"]


class ChatSessions:
    """See the module docstring.  ``cell_id`` is the running cell's id (``None`` when the
    frontend sends none: nbclient, plain IPython)."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.cell_id: str | None = None
        self._chats: dict[str, Any] = {}
        if shell is not None:
            shell.events.register("pre_run_cell", self._pre_run_cell)

    def _pre_run_cell(self, info: Any) -> None:
        self.cell_id = getattr(info, "cell_id", None) or None

    def close(self) -> None:
        if self.shell is not None:
            try:
                self.shell.events.unregister("pre_run_cell", self._pre_run_cell)
            except ValueError:
                pass

    @staticmethod
    def key(name: str | None, endpoint_id: str | None) -> str:
        return f"name:{name}" if name else f"endpoint:{endpoint_id}"

    def find(self, name: str | None, endpoint_id: str | None) -> Any:
        """The conversation named ``name`` (a variable holding a Chat counts), else the one
        with ``endpoint_id``; ``None`` if there is none yet."""
        from rp_jupyter.jobs.chat import Chat

        if name:
            bound = self.shell.user_ns.get(name) if self.shell is not None else None
            if isinstance(bound, Chat):
                return bound
            return self._chats.get(self.key(name, None))
        return self._chats.get(self.key(None, endpoint_id))

    def conversation(self, endpoint: Any, *, name: str | None, new: bool,
                     system: str | None) -> Any:
        """The conversation a chat cell goes on with (a new one when there is none, or
        with ``new``), now on ``endpoint``; bound to ``name`` when given."""
        from rp_jupyter.jobs.chat import Chat

        chat = None if new else self.find(name, endpoint.endpoint_id)
        if chat is None:
            chat = Chat(endpoint, system=system)
        else:
            chat.endpoint = endpoint
            if system is not None:
                chat.system = system
        self._chats[self.key(name, endpoint.endpoint_id)] = chat
        if name and self.shell is not None:
            self.shell.user_ns[name] = chat
        return chat
