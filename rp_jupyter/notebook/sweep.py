"""Parameter sweeps: one job per combination of values, shown as a grid of live mini-panels
with an overall progress bar and "Cancel all", returned as rows.

Jobs are submitted on the engine through the endpoint, whose client-side limiter paces
``/run`` under the published rate limits (so a sweep of hundreds of jobs waits instead of
meeting 429s); a small window of submissions is in flight at a time, and the grid shows
while they go out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any

from rp_jupyter import formats
from rp_jupyter.notebook.context import display_mode, should_block
from rp_jupyter.notebook.presented import mark_presented, presented_in_this_cell
from rp_jupyter.notebook.static import error_summary, final_value, output_reading
from rp_jupyter.notebook.sweep_inputs import (
    as_endpoint,
    describe_params,
    parameter_grid,
    with_params,
)

__all__ = ["Sweep", "SweepItem", "sweep"]

SUBMIT_WINDOW = 16  # submissions in flight at once (the limiter paces them further)
NOT_SUBMITTED = "NOT_SUBMITTED"


@dataclass
class SweepItem:
    """One combination: its parameters, input, and job (or why it has none)."""

    index: int
    params: dict[str, Any]
    input: dict[str, Any]
    job: Any = None
    error: BaseException | None = None
    skipped: bool = False

    @property
    def settled(self) -> bool:
        return (
            self.skipped or self.error is not None or (self.job is not None and self.job.is_final)
        )

    @property
    def status(self) -> str:
        if self.job is not None:
            return str(self.job.status)
        if self.skipped or self.error is not None:
            return NOT_SUBMITTED
        return "SUBMITTING"

    @property
    def label(self) -> str:
        return describe_params(self.params)

    def row(self) -> dict[str, Any]:
        job = self.job
        row = dict(self.params)
        if job is None:
            reason = (
                "the sweep was cancelled first"
                if self.skipped
                else f"submit failed: {self.error}"
                if self.error is not None
                else None
            )
            row.update(status=self.status, output=None, error=reason, job_id=None, elapsed=None)
            return row
        completed = str(job.status) == "COMPLETED"
        row.update(
            status=str(job.status),
            output=_output(job) if completed else None,
            error=None if completed or not job.is_final else error_summary(job),
            job_id=job.id,
            elapsed=round(job.elapsed, 3),
        )
        return row


def _output(job: Any) -> Any:
    """A row's output: the text of a model's reply or a transcript, else the final value."""
    reading = output_reading(job)
    if isinstance(reading, (formats.Reply, formats.Transcript)):
        return reading.text
    return final_value(job)


class Sweep:
    """A running sweep (see :func:`sweep`): ``.jobs``, ``.params``, ``.cancel()``,
    ``.result()``, ``await sweep``."""

    def __init__(
        self,
        endpoint: Any,
        input: Mapping[str, Any],
        grid: list[dict[str, Any]],
        *,
        cache: str = "off",
        run_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.template = dict(input)
        self.items = [
            SweepItem(i, params, with_params(input, params)) for i, params in enumerate(grid)
        ]
        self.cache = cache
        self.run_options = dict(run_options or {})
        self.cancelled = False
        self.started_at = time.time()
        self.estimate: Any = None  # what it should cost, from the endpoint's history
        self._submission: Any = None
        self._views: list[Any] = []

    def __repr__(self) -> str:
        counts = self.counts()
        shown = ", ".join(f"{k} {v}" for k, v in counts.items())
        return f"<Sweep {len(self.items)} jobs on {self.endpoint.endpoint_id!r}: {shown}>"

    # -- public API ---------------------------------------------------------------------

    @property
    def params(self) -> list[dict[str, Any]]:
        """The parameter combinations, in order."""
        return [dict(item.params) for item in self.items]

    @property
    def jobs(self) -> list[Any]:
        """The jobs submitted so far, in parameter order (all of them once submission is
        over, except combinations that could not be submitted)."""
        return [item.job for item in self.items if item.job is not None]

    def wait_submitted(self, timeout: float | None = None) -> list[Any]:
        """Block until every combination has been submitted (not run); the jobs."""
        self._submission.result(timeout)
        return self.jobs

    @property
    def done(self) -> bool:
        return all(item.settled for item in self.items)

    def counts(self) -> dict[str, int]:
        """How many combinations are in each status."""
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.status] = counts.get(item.status, 0) + 1
        return counts

    def cancel(self) -> None:
        """Stop submitting and cancel every job still running (in the background)."""
        self.cancelled = True
        engine = self.endpoint.runtime.engine
        running = [
            item.job for item in self.items if item.job is not None and not item.job.is_final
        ]
        if running:
            engine.submit(_cancel_all(running))

    def result(self, timeout: float | None = None) -> Any:
        """Wait for every job; the rows (a pandas DataFrame when pandas is installed, else
        a list of dicts): the parameters, status, output, error, job_id, elapsed."""
        from rp_jupyter.api.errors import WaitTimeoutError

        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        try:
            self._submission.result(left())
            for job in self.jobs:
                if not job.wait(left()):
                    raise TimeoutError
        except (TimeoutError, concurrent.futures.TimeoutError):
            raise WaitTimeoutError(
                f"the sweep is not finished after {timeout:g} s ({self.counts()})",
                hint="call result() again, or cancel() it",
            ) from None
        return self.rows()

    async def aresult(self) -> Any:
        await asyncio.wrap_future(self._submission)
        for job in self.jobs:
            await job.await_final()
        return self.rows()

    def __await__(self) -> Generator[Any, None, Any]:
        return self.aresult().__await__()

    def rows(self) -> Any:
        """The rows as they are now (see :meth:`result`)."""
        rows = [item.row() for item in self.items]
        try:
            import pandas
        except ImportError:
            return rows
        return pandas.DataFrame(rows)

    # -- running ------------------------------------------------------------------------

    def start(self) -> Sweep:
        """Submit every combination on the engine (returns at once)."""
        from rp_jupyter.jobs.budget import plan

        runtime = self.endpoint.runtime  # fails here, in the caller, on a missing key
        self.estimate = plan(runtime, len(self.items))  # refused here if past a budget
        self._submission = runtime.engine.submit(self._submit_all())
        return self

    async def _submit_all(self) -> None:
        gate = asyncio.Semaphore(SUBMIT_WINDOW)

        async def submit(item: SweepItem) -> None:
            async with gate:
                if self.cancelled or item.skipped:  # Cancel all, or this card's Cancel
                    item.skipped = True
                    return
                try:
                    item.job = await self._send(item)
                except Exception as exc:
                    item.error = exc
                    return
                if (self.cancelled or item.skipped) and not item.job.is_final:
                    await _cancel_all([item.job])

        await asyncio.gather(*(submit(item) for item in self.items))

    async def _send(self, item: SweepItem) -> Any:
        """Send one combination (a chat sweep asks its question instead)."""
        return await self.endpoint.arun(item.input, cache=self.cache, **self.run_options)

    # -- showing ------------------------------------------------------------------------

    def present(self, mode: str, block: bool) -> None:
        """Show the sweep in the running cell: live grid, or blocking static/text output."""
        from rp_jupyter.notebook import sweep_view

        mark_presented(self)
        if mode == "live":
            grid = sweep_view.SweepGrid(self)
            self._views.append(grid)
            grid.show()
            if block:
                sweep_view.wait_for_sweep(self, on_poll=None, on_stop=grid.finish_now)
                grid.finish_now()
        elif mode == "headless":
            sweep_view.present_headless(self)
        else:
            sweep_view.present_as_text(self)

    def _ipython_display_(self) -> None:
        if presented_in_this_cell(self):
            return
        from IPython import get_ipython

        mode = display_mode(get_ipython())
        if mode == "live":
            self.present(mode, block=False)
        else:
            from IPython.display import display

            from rp_jupyter.notebook.sweep_view import static_sweep_bundle

            mark_presented(self)
            display(static_sweep_bundle(self), raw=True)


async def _cancel_all(jobs: list[Any]) -> None:
    await asyncio.gather(*(job.acancel() for job in jobs), return_exceptions=True)


def sweep(
    endpoint: Any,
    input: Mapping[str, Any],
    *,
    cache: str = "off",
    wait: bool | None = None,
    run_options: Mapping[str, Any] | None = None,
    **params: Any,
) -> Sweep:
    """Run ``input`` once per combination of the parameter values and show the grid.

    ``params`` map names (dotted for nested keys: ``options.temperature``) to lists of
    values; ``run_options`` are :meth:`Endpoint.run` options (``execution_timeout``, ...).
    In a live notebook the cell returns at once (``wait=True`` blocks); elsewhere it blocks.

    Example::

        s = rp_jupyter.sweep("my-endpoint", {"prompt": "Tell me a joke"},
                             temperature=[0.2, 0.7, 1.0], seed=[1, 2])
        df = s.result()          # one row per job: temperature, seed, status, output, ...
    """
    from IPython import get_ipython

    ep = as_endpoint(endpoint)
    grid = parameter_grid(params)
    if cache not in ("off", "use", "refresh"):
        raise ValueError(f"cache must be off, use or refresh, not {cache!r}")
    result = Sweep(ep, input, grid, cache=cache, run_options=run_options).start()
    mode = display_mode(get_ipython())
    result.present(mode, should_block(mode, wait))
    return result
