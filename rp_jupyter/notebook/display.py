"""Showing a job in a cell, whatever runs the notebook.

- ``live`` (JupyterLab, Notebook 7, VS Code, Colab): a live panel that updates while the
  kernel is idle and turns into a static rendering when the job is final.
- ``headless`` (nbclient, nbconvert, papermill): blocks in the cell, updating one static
  output (nbclient keeps only what arrives while the cell runs).
- ``terminal`` (plain IPython): blocks, printing a few text lines and the output.

Interrupting a blocking cell cancels the job.  :func:`register_job_display` makes a
``Job`` shown as a cell's value (or by ``display(job)``) use the same renderings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rp_jupyter.notebook.context import DisplayMode, display_mode
from rp_jupyter.notebook.presented import hook, mark_presented, presented_in_this_cell, unhook

__all__ = [
    "present_job",
    "register_job_display",
    "static_bundle",
    "unregister_job_display",
    "wait_interruptibly",
]

WAIT_SLICE = 0.1  # seconds between checks while a cell blocks (keeps Ctrl-C responsive)
HEADLESS_UPDATE_SECONDS = 1.0
CANCEL_GRACE_SECONDS = 5.0


def static_bundle(job: Any, **options: Any) -> dict[str, Any]:
    """The job's static rendering (see :func:`rp_jupyter.notebook.static.static_bundle`)."""
    from rp_jupyter.notebook.static import static_bundle as render

    return render(job, **options)


def present_job(job: Any, *, mode: DisplayMode, block: bool, read_as: str | None = None,
                name: str | None = None) -> None:
    """Show ``job`` in the running cell (see the module docstring).

    ``block`` matters in ``live`` mode only (``--wait``); the other modes always block.
    ``read_as`` is one line saying how the cell was read, shown with the folded input;
    ``name`` the variable the job is bound to, used when the panel says how to retry it.

    Example::

        job = endpoint.run({"prompt": "hi"})
        present_job(job, mode=display_mode(), block=False)
    """
    mark_presented(job)
    if mode == "terminal":
        _present_as_text(job)
    elif mode == "headless":
        _present_headless(job, read_as)
    else:
        from rp_jupyter.notebook.panel import JobPanel

        panel = JobPanel(job, read_as=read_as, name=name)
        panel.show()
        if block:
            wait_interruptibly([job], on_poll=None, on_stop=panel.finish_now)
            panel.finish_now()


def wait_interruptibly(
    jobs: list[Any],
    *,
    on_poll: Callable[[], None] | None,
    on_stop: Callable[[], None] | None,
    poll_every: float = WAIT_SLICE,
    cancel: Callable[[], None] | None = None,
) -> None:
    """Block until every job is final, calling ``on_poll`` between checks.

    On Ctrl-C: cancel the jobs still running (``cancel`` overrides how), wait up to 5 s for
    them to be final, call ``on_stop`` to show the final state, and raise
    :class:`JobInterrupted` saying what was cancelled (a magic shows it as one line).
    """
    from rp_jupyter.notebook.usage import JobInterrupted

    try:
        for job in jobs:
            while not job.wait(poll_every):
                if on_poll is not None:
                    on_poll()
    except KeyboardInterrupt:
        running = [job for job in jobs if not job.is_final]
        errors = []
        if cancel is not None:
            cancel()
        else:
            for job in running:
                try:
                    job.cancel()
                except Exception as exc:
                    errors.append(f"{job.id}: {exc}")
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        for job in running:
            job.wait(max(0.0, deadline - time.monotonic()))
        if on_stop is not None:
            on_stop()
        raise JobInterrupted(_interrupted_line(running, errors)) from None


def _interrupted_line(running: list[Any], errors: list[str]) -> str:
    if not running:
        return "Interrupted (the job had already finished)"
    if len(running) == 1:
        job = running[0]
        line = f"Interrupted: cancelled job {job.id} on endpoint {job.endpoint_id}"
    else:
        line = f"Interrupted: cancelled {len(running)} jobs on endpoint {running[0].endpoint_id}"
    if errors:
        line += f" (cancel failed for {'; '.join(errors)})"
    return line


def _present_as_text(job: Any) -> None:
    from rp_jupyter.notebook.text_status import TextStatus

    status = TextStatus(job)
    status.start()
    with job.watching():
        wait_interruptibly([job], on_poll=status.poll, on_stop=status.finish)
    status.finish()


def _present_headless(job: Any, read_as: str | None) -> None:
    from IPython.display import display

    from rp_jupyter.notebook.stream_state import StreamState

    stream = StreamState()
    stream.sync(job)
    bundle = static_bundle(job, read_as=read_as, stream=stream)
    handle = display(bundle, raw=True, display_id=True)
    sent = {"html": bundle["text/html"], "at": time.monotonic()}

    def update() -> None:
        if time.monotonic() - sent["at"] < HEADLESS_UPDATE_SECONDS:
            return
        stream.sync(job)
        fresh = static_bundle(job, read_as=read_as, stream=stream)
        sent["at"] = time.monotonic()
        if fresh["text/html"] != sent["html"]:
            sent["html"] = fresh["text/html"]
            handle.update(fresh, raw=True)

    def final() -> None:
        handle.update(static_bundle(job, read_as=read_as), raw=True)

    with job.watching():
        wait_interruptibly([job], on_poll=update, on_stop=final)
    final()


# -- Job as a cell's value ------------------------------------------------------------------


def _display_job(job: Any) -> None:
    """``ipython_display_formatter`` hook for ``Job`` (returning shows nothing more)."""
    from IPython import get_ipython
    from IPython.display import display

    mode = display_mode(get_ipython())
    if presented_in_this_cell(job):
        if mode == "terminal":
            print(repr(job))  # fills the "Out[n]:" line with a one-line summary
        return
    mark_presented(job)
    if mode == "live":
        from rp_jupyter.notebook.panel import JobPanel

        JobPanel(job).show()
    else:
        display(static_bundle(job), raw=True)


def register_job_display(ip: Any) -> None:
    """Show a ``Job`` that is a cell's value (or passed to ``display``) as its panel, or
    as its static rendering outside a live frontend; a job already presented in the same
    cell is not shown again."""
    hook(ip)
    # by name, so that loading the extension does not import the engine
    ip.display_formatter.ipython_display_formatter.for_type_by_name(
        "rp_jupyter.jobs.job", "Job", _display_job)


def unregister_job_display(ip: Any) -> None:
    """Undo :func:`register_job_display`."""
    ip.display_formatter.ipython_display_formatter.pop("rp_jupyter.jobs.job.Job", None)
    unhook(ip)
