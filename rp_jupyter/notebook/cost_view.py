"""What it costs and why it waits, in the panels: the parts this feature adds (see
:mod:`rp_jupyter.notebook.panel_parts`), and the displays of ``%runpod cost`` and
``%runpod price``.

- a job's footer: what it cost, or costs so far (nothing for a free local endpoint);
- a job's header: why it waits while IN_QUEUE, a warning once it is forgotten, and why the
  budget cancelled it;
- ``%runpod jobs``: a ``cost`` and a ``warning`` column;
- a sweep's header: its estimate first, what it has cost so far, then its total.

Installed once, when ``rp_jupyter.notebook`` is imported; imports nothing heavy.
"""

from __future__ import annotations

import weakref
from html import escape
from typing import Any

from rp_jupyter.notebook.panel_parts import parts

__all__ = ["CostReport", "PriceList", "install"]

BAR_CHARS = 30
BAR_PIXELS = 240


# -- the parts ---------------------------------------------------------------------------


def cost_footer(job: Any) -> str | None:
    """``cost $0.0021 · 2.7 s × $0.00076/s (...)``; nothing for free local jobs, jobs
    answered from the journal, or jobs not started yet."""
    if getattr(job, "cached", False) or str(job.status) in ("SUBMITTING", "IN_QUEUE"):
        return None
    cost = job.cost
    if cost.source == "local":
        return None
    return cost.describe()


def wait_note(job: Any) -> str | None:
    """Why a queued job waits (from the shared ``/health`` watch)."""
    if str(job.status) != "IN_QUEUE":
        return None
    from rp_jupyter.jobs.health_watch import wait_reason

    return wait_reason(job)


def forgotten_note(job: Any) -> str | None:
    if job.is_final:
        return None
    from rp_jupyter.jobs.forgotten import forgotten_warning

    return forgotten_warning(str(job.status), job.submitted_at)


def budget_note(job: Any) -> str | None:
    if str(job.status) != "CANCELLED":
        return None
    from rp_jupyter.jobs.budget import stop_reason

    return stop_reason(job)


def cost_cell(record: Any, job: Any) -> str:
    """The ``cost`` column: as journaled, or so far for a running job."""
    if job is not None:
        return "" if str(job.status) == "SUBMITTING" else job.cost.text
    if record.job_id is None:
        return ""
    from rp_jupyter.jobs.cost import record_cost

    return record_cost(record).text


def warning_cell(record: Any, job: Any) -> str:
    """The ``warning`` column: forgotten jobs."""
    from rp_jupyter.jobs.forgotten import forgotten_warning

    if job is not None:
        warning = None if job.is_final else forgotten_warning(str(job.status), job.submitted_at)
    elif record.final:
        warning = None
    else:
        warning = forgotten_warning(record.status, record.submitted_at or record.created_at)
    return warning.split(":")[0].replace("still ", "forgotten? ") if warning else ""


_FINAL_COSTS: weakref.WeakKeyDictionary[Any, tuple[int, Any]] = weakref.WeakKeyDictionary()


def settled_cost(job: Any) -> Any:
    """``job.cost``, worked out once per attempt after the job is final (a sweep's header
    asks for the cost of every job, again and again)."""
    if not job.is_final:
        return job.cost
    known = _FINAL_COSTS.get(job)
    if known is None or known[0] != job.attempt:
        known = _FINAL_COSTS[job] = (job.attempt, job.cost)
    return known[1]


def sweep_note(sweep: Any) -> str | None:
    """The estimate first; what the sweep has cost so far; its total once done."""
    estimate = getattr(sweep, "estimate", None)
    costs = [settled_cost(job) for job in sweep.jobs if not getattr(job, "cached", False)]
    if (estimate is None or estimate.free) and all(c.source == "local" for c in costs):
        return None
    from rp_jupyter.jobs.cost import dollars

    known = sum(c.dollars or 0.0 for c in costs if c.known)
    unknown = sum(1 for c in costs if not c.known)
    more = f" (+{unknown} of unknown cost)" if unknown else ""
    if sweep.done:
        guessed = estimate.total if estimate is not None else None
        said = f" (estimated {dollars(guessed)})" if guessed is not None else ""
        return f"total cost {dollars(known)}{more}{said}"
    head = f"estimate: {estimate.text()}" if estimate is not None else ""
    spent = f"so far ~{dollars(known)}{more}" if costs else ""
    return " · ".join(p for p in (head, spent) if p) or None


_INSTALLED = False


def install() -> None:
    """Add the parts to the panels (once)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    parts.add_note(wait_note)
    parts.add_note(forgotten_note)
    parts.add_note(budget_note)
    parts.add_footer(cost_footer)
    parts.add_column("cost", "6em", cost_cell)
    parts.add_column("warning", "11em", warning_cell)
    parts.add_sweep_note(sweep_note)


# -- %runpod cost ------------------------------------------------------------------------


def _bar_text(value: float, top: float) -> str:
    return "█" * max(1, round(BAR_CHARS * value / top)) if value > 0 and top > 0 else ""


class CostReport:
    """``%runpod cost``: the totals as a table with a bar per row (HTML bars in a notebook,
    text bars in a terminal); ``.rows`` holds them as dicts."""

    def __init__(self, rows: list[dict[str, Any]], by: str, period: str) -> None:
        self.rows, self.by, self.period = rows, by, period

    def _totals(self) -> dict[str, Any]:
        return {"jobs": sum(r["jobs"] for r in self.rows),
                "run_seconds": sum(r["run_seconds"] for r in self.rows),
                "cost": sum(r["cost"] for r in self.rows),
                "unknown_cost": sum(r["unknown_cost"] for r in self.rows)}

    def title(self) -> str:
        return f"Cost by {self.by} ({self.period}), from the journal"

    def footnote(self) -> str:
        unknown = self._totals()["unknown_cost"]
        if not unknown:
            return ""
        return (f"{unknown} job(s) of unknown cost (no price for their endpoint when they "
                "ended) are not in the totals; %runpod price sets one for the next jobs.")

    def __repr__(self) -> str:
        from rp_jupyter.jobs.cost import dollars

        if not self.rows:
            return f"{self.title()}: no finished jobs."
        top = max(r["cost"] for r in self.rows)
        table = [[self.by.upper(), "JOBS", "RUN", "COST", ""]]
        for r in self.rows:
            table.append([str(r[self.by]), str(r["jobs"]), f"{r['run_seconds']:.1f} s",
                          dollars(r["cost"]), _bar_text(r["cost"], top)])
        total = self._totals()
        table.append(["total", str(total["jobs"]), f"{total['run_seconds']:.1f} s",
                      dollars(total["cost"]), ""])
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines = [self.title()]
        for row in table:
            cells = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in
                                                zip(row[1:4], widths[1:], strict=True))]
            lines.append("  ".join([*cells, row[4]]).rstrip())
        note = self.footnote()
        return "\n".join(lines + ([note] if note else []))

    def _repr_html_(self) -> str:
        from rp_jupyter.jobs.cost import dollars

        if not self.rows:
            return f"<div>{escape(self.title())}: no finished jobs.</div>"
        top = max(r["cost"] for r in self.rows)
        cell = 'style="padding:1px 8px;text-align:{}"'
        body = []
        for r in self.rows:
            width = round(BAR_PIXELS * r["cost"] / top) if top > 0 else 0
            bar = (f'<div style="background:#2563eb;height:10px;width:{width}px;'
                   f'border-radius:2px" title="{escape(dollars(r["cost"]))}"></div>'
                   if width else "")
            body.append(
                f"<tr><td {cell.format('left')}>{escape(str(r[self.by]))}</td>"
                f"<td {cell.format('right')}>{r['jobs']}</td>"
                f"<td {cell.format('right')}>{r['run_seconds']:.1f} s</td>"
                f"<td {cell.format('right')}>{escape(dollars(r['cost']))}</td>"
                f"<td {cell.format('left')}>{bar}</td></tr>")
        total = self._totals()
        body.append(f"<tr style=\"font-weight:600\"><td {cell.format('left')}>total</td>"
                    f"<td {cell.format('right')}>{total['jobs']}</td>"
                    f"<td {cell.format('right')}>{total['run_seconds']:.1f} s</td>"
                    f"<td {cell.format('right')}>{escape(dollars(total['cost']))}</td>"
                    "<td></td></tr>")
        head = "".join(f"<th {cell.format('left')}>{h}</th>"
                       for h in (escape(self.by), "jobs", "run", "cost", ""))
        note = self.footnote()
        return (f"<div><b>{escape(self.title())}</b><table style=\"border-collapse:collapse\">"
                f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
                + (f"<div style=\"color:#6b7280\">{escape(note)}</div>" if note else "")
                + "</div>")


# -- %runpod price -----------------------------------------------------------------------


class PriceList:
    """``%runpod price``: the prices set for endpoints, and the GPU table with its date."""

    def __init__(self, prices: dict[str, Any]) -> None:
        self.prices = prices

    def lines(self) -> list[str]:
        from rp_jupyter.jobs.cost import per_second_text
        from rp_jupyter.jobs.pricing import GPU_PRICES, PRICES_AS_OF, PRICES_SOURCE

        lines = ["Prices set for endpoints:" if self.prices else
                 "No price is set for any endpoint (local ones are free; others unknown)."]
        for endpoint_id, price in self.prices.items():
            lines.append(f"  {endpoint_id}: {price.describe()}")
        lines.append("")
        lines.append(f"Runpod's serverless GPU prices per second as of {PRICES_AS_OF}, from "
                     f"{PRICES_SOURCE} (flex and active workers priced alike):")
        width = max(len(row.label) for row in GPU_PRICES)
        for row in GPU_PRICES:
            lines.append(f"  {row.label.ljust(width)}  {row.memory_gb:>3} GB  "
                         f"{per_second_text(row.flex)}")
        return lines

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        return f"<pre>{escape(repr(self))}</pre>"
