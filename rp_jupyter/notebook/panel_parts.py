"""What a feature adds to the panels without editing them: a note beside a job's header
(why it waits), a line in its footer (what it cost), a column in ``%runpod jobs``, a note
in a sweep's header (its estimate and total cost).

Each part is a function of the job (or of a journal record) returning plain text, or
``None`` to add nothing; every view asks the same registry (the live panel, the static
rendering a saved notebook keeps, plain IPython and the jobs table), so a part shows the
same way everywhere.  A part that raises is skipped: a panel never breaks for it.

Example::

    from rp_jupyter.notebook.panel_parts import parts

    parts.add_footer(lambda job: f"cost ${job.execution_ms / 1000 * 0.0004:.4f}"
                     if job.execution_ms else None)
    parts.add_column("cost", "5em", lambda record, job: "$0.01")
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Column", "JobPart", "PanelParts", "parts"]

log = logging.getLogger("rp_jupyter.notebook")

JobPart = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Column:
    """A jobs-table column: its title, CSS width, and ``cell(record, job)``, where ``job``
    is the live job when a row's action attached one (else ``None``)."""

    name: str
    width: str
    cell: Callable[[Any, Any], str]


class PanelParts:
    """The registry of parts (see the module docstring); :data:`parts` is the one in use."""

    def __init__(self) -> None:
        self._notes: list[JobPart] = []
        self._footers: list[JobPart] = []
        self._sweep_notes: list[JobPart] = []
        self.columns: list[Column] = []

    def add_note(self, part: JobPart) -> None:
        """A short note shown beside the job's header (e.g. why it waits)."""
        self._notes.append(part)

    def add_footer(self, part: JobPart) -> None:
        """A line shown under the job's output (e.g. what it cost)."""
        self._footers.append(part)

    def add_sweep_note(self, part: JobPart) -> None:
        """A short note in a sweep's header, live and static (e.g. what it costs); the
        part gets the sweep."""
        self._sweep_notes.append(part)

    def add_column(self, name: str, width: str, cell: Callable[[Any, Any], str]) -> None:
        """A column of ``%runpod jobs``, before its output column."""
        self.columns.append(Column(name, width, cell))

    def remove(self, part: Any) -> None:
        """Take a note, footer or column function out again."""
        for group in (self._notes, self._footers, self._sweep_notes):
            if part in group:
                group.remove(part)
        self.columns = [c for c in self.columns if c.cell is not part]

    def notes(self, job: Any) -> list[str]:
        return _ask(self._notes, job)

    def footers(self, job: Any) -> list[str]:
        return _ask(self._footers, job)

    def sweep_notes(self, sweep: Any) -> list[str]:
        return _ask(self._sweep_notes, sweep)

    def cells(self, record: Any, job: Any = None) -> dict[str, str]:
        found = {}
        for column in self.columns:
            try:
                found[column.name] = str(column.cell(record, job) or "")
            except Exception:
                log.exception("the jobs table column %r failed", column.name)
                found[column.name] = ""
        return found


def _ask(group: list[JobPart], job: Any) -> list[str]:
    lines = []
    for part in list(group):
        try:
            line = part(job)
        except Exception:
            log.exception("a panel part failed; it is left out")
            continue
        if line:
            lines.append(str(line))
    return lines


parts = PanelParts()
