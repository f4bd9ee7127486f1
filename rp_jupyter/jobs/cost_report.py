"""What jobs cost, added up from the journal: ``rp_jupyter.cost(...)`` and ``%runpod cost``.

Every finished job is counted with the cost journaled when it ended (see
:mod:`rp_jupyter.jobs.cost`); a job whose cost was unknown adds to ``unknown_cost``, never to
``cost``.  Unfinished jobs are left out until they end.
"""

from __future__ import annotations

import time
from typing import Any

from rp_jupyter.api.errors import InvalidRequestError
from rp_jupyter.jobs.journal_records import SUBMIT_FAILED

__all__ = ["GROUPS", "cost", "cost_rows"]

GROUPS = {
    "endpoint": "endpoint_id",
    "day": "date(created_at, 'unixepoch', 'localtime')",
    "notebook": "coalesce(origin, '(unknown)')",
}
ORDER = {"endpoint": "cost DESC, grp", "day": "grp", "notebook": "cost DESC, grp"}


def cost_rows(
    *, endpoint: str | None = None, last: float | None = None, by: str = "endpoint",
    journal: Any = None,
) -> list[dict[str, Any]]:
    """The totals as a list of dicts: ``{by}``, ``jobs``, ``run_seconds``, ``cost`` (dollars
    of the jobs whose cost is known) and ``unknown_cost`` (how many jobs it is unknown for)."""
    if by not in GROUPS:
        raise InvalidRequestError(f"by must be one of {', '.join(GROUPS)}, not {by!r}",
                                  hint='e.g. rp_jupyter.cost(by="day")')
    if journal is None:
        from rp_jupyter.jobs.journal import JobJournal

        journal = JobJournal.open()
    # a reply's record has its (client-chosen) id before it is sent: one never sent is left out
    clauses, params = ["final = 1", "job_id IS NOT NULL", f"status != '{SUBMIT_FAILED}'"], []
    if endpoint is not None:
        clauses.append("endpoint_id = ?")
        params.append(endpoint)
    if last is not None:
        clauses.append("created_at >= ?")
        params.append(time.time() - last)
    # every row is read anyway without a filter: a plain scan beats walking an index
    source = "jobs" if params else "jobs NOT INDEXED"
    rows = journal.read(
        f"SELECT {GROUPS[by]} AS grp, count(*) AS jobs, "
        "coalesce(sum(execution_ms), 0) / 1000.0 AS seconds, coalesce(sum(cost), 0) AS cost, "
        "sum(CASE WHEN cost IS NULL THEN 1 ELSE 0 END) AS unknown "
        f"FROM {source} WHERE {' AND '.join(clauses)} GROUP BY grp ORDER BY {ORDER[by]}",
        params)
    return [{by: row["grp"], "jobs": row["jobs"], "run_seconds": round(row["seconds"], 3),
             "cost": row["cost"], "unknown_cost": row["unknown"]} for row in rows]


def cost(endpoint: str | None = None, *, last: float | None = None, by: str = "endpoint") -> Any:
    """What the journal's finished jobs cost, grouped ``by`` endpoint, day or notebook: a
    pandas DataFrame when pandas is installed, else a list of dicts.

    ``last`` is a number of seconds back from now.

    Example::

        rp_jupyter.cost(by="day", last=7 * 86400)
        #          day  jobs  run_seconds    cost  unknown_cost
        # 0 2026-12-01    24         74.4  0.0565             0
    """
    rows = cost_rows(endpoint=endpoint, last=last, by=by)
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows, columns=[by, "jobs", "run_seconds", "cost", "unknown_cost"])
