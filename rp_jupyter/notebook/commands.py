"""The one-line ``%runpod`` commands (everything but ``run``, which is in :mod:`run_cell`).

Each ``cmd_*`` takes the magics object, the parsed arguments and the cell (unused here),
and returns what the cell should show.  User mistakes raise ``UsageError`` before anything
is sent.
"""

from __future__ import annotations

import argparse
import getpass
import time
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from rp_jupyter.env_names import API_KEY_ENV
from rp_jupyter.notebook.context import display_mode, should_block
from rp_jupyter.notebook.display import present_job
from rp_jupyter.notebook.flag_values import (
    count_flag,
    duration_flag,
    endpoint_id_flag,
    http_url_flag,
    job_id_flag,
    number_flag,
)
from rp_jupyter.notebook.magic_args import HELP, command_help
from rp_jupyter.notebook.settings import SettingsReport, effective_settings
from rp_jupyter.notebook.usage import usage_error

if TYPE_CHECKING:
    from rp_jupyter.jobs.job import Job
    from rp_jupyter.notebook.magics import RunpodMagics

__all__ = [
    "cmd_cancel", "cmd_config", "cmd_endpoint", "cmd_health", "cmd_help", "cmd_jobs",
    "cmd_local", "cmd_login", "cmd_logout", "cmd_present", "cmd_purge", "cmd_replay",
    "cmd_rerun", "cmd_result", "cmd_retry",
    "cmd_status", "resolve_job",
]

Args = argparse.Namespace
HANDLER_HINT = ("HANDLER is an example (echo, tokens, images, chaos, llm, imagegen, transcribe, "
                "embed), path/to/file.py[:name] (a runpod worker script is served unchanged), "
                "module:name, or a handler function defined in the notebook")


# -- finding the job a command is about --------------------------------------------------------


def resolve_job(magics: RunpodMagics, token: str | None) -> Job:
    """The job named by ``token``: a variable holding a Job, a job id (or a unique prefix
    of one started here), or — when ``token`` is None — the notebook's last job."""
    from rp_jupyter.jobs.job import Job
    from rp_jupyter.jobs.journal import JobJournal

    if token is None:
        if not magics.session_jobs:
            raise usage_error("no job has been started from this notebook yet",
                              "name a job: a variable holding one, or its id")
        return magics.session_jobs[-1]
    value = magics.shell.user_ns.get(token) if token.isidentifier() else None
    if isinstance(value, Job):
        return value
    job_id_flag(token)  # an id that would leave its route is refused before anything else
    matches = [j for j in magics.session_jobs if j.id == token]
    if not matches and len(token) >= 6:
        matches = list({j.id: j for j in magics.session_jobs if j.id.startswith(token)}.values())
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise usage_error(f"{token!r} matches several jobs", "give more of the job id")
    record = JobJournal.open().find(token)
    if record is None:
        return magics.endpoint().job(token)
    try:
        endpoint = magics.endpoint(record.endpoint_id, record.base_url, journaled=True)
    except UsageError:
        if not record.final:
            raise
        from rp_jupyter.jobs.runtime import job_from_record

        return job_from_record(record, None)  # readable from the journal without a key
    return endpoint.job(token)


def _say(message: str) -> None:
    print(message)


# -- job commands ----------------------------------------------------------------------------


def cmd_status(magics: RunpodMagics, args: Args, cell: str | None) -> Job:
    job = resolve_job(magics, args.job)
    if not job.is_final and job.source == "server":
        job.refresh()
    return job


def cmd_cancel(magics: RunpodMagics, args: Args, cell: str | None) -> None:
    if args.all:
        if args.job:
            raise usage_error("give a job or --all, not both",
                              "%runpod cancel JOB, or %runpod cancel --all")
        _cancel_all(magics)
        return
    job = resolve_job(magics, args.job)
    if job.is_final:
        _say(f"Job {job.id} is already {job.status}; nothing to cancel.")
        return
    before = job.status
    job.cancel()
    _say(f"Cancelled job {job.id} on endpoint {job.endpoint_id} (it was {before}).")


def _cancel_all(magics: RunpodMagics) -> None:
    """Cancel every unfinished job of this notebook (sweeps stop submitting first), all
    of them tried whatever fails, then one report naming those that could not be."""
    from rp_jupyter.jobs.cancelling import cancel_each

    sweeps = [s for s in magics.session_sweeps if not s.done]
    for sweep in sweeps:
        sweep.cancel()  # stops submitting the rest of the sweep
    jobs = [j for j in magics.session_jobs if not j.is_final]
    jobs += [j for s in sweeps for j in s.jobs if not j.is_final and j not in jobs]
    if not jobs:
        _say("No unfinished jobs started from this notebook.")
        return
    outcomes = cancel_each(jobs)
    failed = [(job, problem) for job, problem in outcomes if problem is not None]
    done = len(jobs) - len(failed)
    if not failed:
        _say(f"Cancelled {done} unfinished job(s) started from this notebook.")
        return
    lines = [f"Cancelled {done} of {len(jobs)} unfinished job(s) started from this notebook; "
             f"could not cancel {len(failed)}:"]
    lines += [f"  {job.id} on endpoint {job.endpoint_id}: {problem}" for job, problem in failed]
    lines.append("Try again with %runpod cancel JOB (they may still be running).")
    _say("\n".join(lines))


def cmd_retry(magics: RunpodMagics, args: Args, cell: str | None) -> Job:
    """Requeue a FAILED or TIMED_OUT job under its id; its panels follow it."""
    from rp_jupyter.notebook.run_cell import show_job

    job = resolve_job(magics, args.job)
    job.retry()
    mode = display_mode(magics.shell)
    show_job(job, mode=mode, block=should_block(mode, magics.block),
             name=magics.job_names.get(job.id))
    return job


def cmd_rerun(magics: RunpodMagics, args: Args, cell: str | None) -> Job:
    """The same input again, as a new job with a panel of its own; the variable the first
    job's cell bound (``-o NAME``) now holds the new one."""
    from rp_jupyter.notebook.run_cell import show_job

    job = resolve_job(magics, args.job)
    fresh = job.rerun()
    name = magics.job_names.get(job.id)
    magics.remember(fresh, name=name)
    if name and magics.shell.user_ns.get(name) is job:
        magics.shell.user_ns[name] = fresh
    mode = display_mode(magics.shell)
    show_job(fresh, mode=mode, block=should_block(mode, magics.block), name=name)
    return fresh


def cmd_result(magics: RunpodMagics, args: Args, cell: str | None) -> Any:
    from rp_jupyter.notebook.result_reader import read_result

    return read_result(magics, args.job)


def cmd_jobs(magics: RunpodMagics, args: Args, cell: str | None) -> None:
    from rp_jupyter.jobs.journal import JobJournal
    from rp_jupyter.jobs.local_endpoints import settle_stopped_local_jobs
    from rp_jupyter.notebook.jobs_table import show_jobs_table

    since = time.time() - duration_flag("--last", args.last) if args.last else None
    limit = count_flag("--limit", args.limit)
    journal = JobJournal.open()
    settle_stopped_local_jobs(journal)  # jobs of a local endpoint that stopped show as LOST
    records = journal.list(endpoint_id=args.endpoint, status=args.status, since=since,
                           limit=limit)
    show_jobs_table(records, mode=display_mode(magics.shell),
                    endpoint_for=lambda r: magics.endpoint(r.endpoint_id, r.base_url,
                                                           journaled=True))


def cmd_present(magics: RunpodMagics, args: Args, cell: str | None) -> None:
    from rp_jupyter.notebook.presentation import presenting, set_presenting

    if args.state is not None:
        set_presenting(args.state == "on")
    _say("Presenting: panels hide job ids and timings and show larger text (%runpod present "
         "off to stop)." if presenting() else "Not presenting (%runpod present on for a room).")


def cmd_replay(magics: RunpodMagics, args: Args, cell: str | None) -> Job:
    """A finished job's stream, played again from the journal at its pace (``--speed``)."""
    from rp_jupyter.jobs.replay import replay
    from rp_jupyter.notebook.result_reader import find_record

    speed = number_flag("--speed", args.speed)
    record = find_record(magics, args.job)
    if not record.final:
        raise usage_error(f"job {record.job_id} is {record.status}: only a finished job can be "
                          "replayed", "wait for it to end, or replay another job")
    job = replay(record, speed=speed)
    mode = display_mode(magics.shell)
    present_job(job, mode=mode, block=should_block(mode, magics.block))
    return job


# -- endpoint commands -----------------------------------------------------------------------


def cmd_health(magics: RunpodMagics, args: Args, cell: str | None) -> None:
    from rp_jupyter.notebook.health_panel import show_health

    interval = duration_flag("--interval", args.interval)
    endpoint = magics.endpoint(args.endpoint, args.base_url)
    show_health(endpoint, watch=args.watch, interval=interval, mode=display_mode(magics.shell))


def cmd_purge(magics: RunpodMagics, args: Args, cell: str | None) -> int | None:
    endpoint = magics.endpoint(args.endpoint, args.base_url)
    if not args.yes:
        raise usage_error(
            f"purge removes every queued job of endpoint {endpoint.endpoint_id!r}; "
            "nothing was sent",
            f"add --yes to do it: %runpod purge {endpoint.endpoint_id} --yes",
        )
    removed = endpoint.purge_queue()
    _say(f"Removed {removed} queued job(s) from endpoint {endpoint.endpoint_id} "
         "(running jobs go on).")
    return None


def cmd_local(magics: RunpodMagics, args: Args, cell: str | None) -> None:
    if args.stop:
        stopped = magics.local.stop()
        if magics.default_endpoint in stopped:
            magics.set_trait("default_endpoint", None, "%runpod local --stop")
        _say(f"Stopped local endpoint(s): {', '.join(stopped)}." if stopped
             else "No local endpoint is running.")
        return
    handler: Any = args.handler
    candidate = magics.shell.user_ns.get(handler) if handler.isidentifier() else None
    if callable(candidate):
        handler = candidate
    retention = duration_flag("--retention", args.retention) if args.retention else None
    simulated = _simulated(args)
    try:
        handle = magics.local.start(handler, endpoint_id=args.endpoint_id,
                                    aggregate=args.aggregate, retention=retention,
                                    runpod_worker=args.runpod_worker, simulate=simulated)
    except (ValueError, ImportError, OSError) as exc:
        raise usage_error(f"cannot start the local endpoint: {exc}", HANDLER_HINT) from None
    except (RuntimeError, TimeoutError) as exc:  # its worker could not load the handler
        lines = str(exc).strip().splitlines()
        raise usage_error(f"the local endpoint's worker did not start: {lines[-1]}",
                          HANDLER_HINT + "; it must load as handler(job)") from None
    magics.set_trait("default_endpoint", handle.endpoint_id, "%runpod local")
    how = {"reused": "is already running", "restarted": "restarted with the edited code, "
           "is running"}.get(magics.local.last_start, "is running")
    _say(f"Local endpoint {handle.endpoint_id!r} ({handle.handler}, {_workers_text(handle)}) "
         f"{how} at {handle.base_url}; it is now the default endpoint.")
    if args.runpod_worker:
        from rp_jupyter.local.protocol import runpod_worker_summary

        _say(runpod_worker_summary(handle))


def _simulated(args: Args) -> dict[str, Any]:
    """The worker count and the simulated states given on the line (see
    :mod:`rp_jupyter.local.simulation`)."""
    found: dict[str, Any] = {}
    if args.workers is not None:
        found["workers"] = count_flag("--workers", args.workers)
    for flag, name in (("--throttled", "throttled"), ("--unhealthy", "unhealthy")):
        if getattr(args, name) is not None:
            found[name] = count_flag(flag, getattr(args, name))
    if args.cold_start is not None:
        found["cold_start"] = duration_flag("--cold-start", args.cold_start)
    return found


def _workers_text(handle: Any) -> str:
    from rp_jupyter.local.simulation import describe

    workers = handle.settings.workers
    simulated = describe(handle.settings)
    return f"{workers} worker{'s' if workers != 1 else ''}" + (
        f"; simulated: {simulated}" if simulated else "")


def cmd_endpoint(magics: RunpodMagics, args: Args, cell: str | None) -> None:
    if args.endpoint is None and args.base_url is None:
        settings = magics.settings()
        current = settings["default_endpoint"]
        if current is None:
            _say("No default endpoint. Set one with %runpod endpoint ID.")
        else:
            _say(f"Default endpoint: {current} at {settings['base_url']}")
        return
    endpoint_id = endpoint_id_flag(args.endpoint) if args.endpoint is not None else None
    if args.base_url is not None:
        http_url_flag("--base-url", args.base_url, "https://api.runpod.ai/v2")
    if endpoint_id is not None:
        magics.set_trait("default_endpoint", endpoint_id, "%runpod endpoint")
    if args.base_url is not None:
        magics.set_trait("base_url", args.base_url.rstrip("/"), "%runpod endpoint --base-url")
    settings = magics.settings()
    _say(f"Default endpoint: {settings['default_endpoint']} at {settings['base_url']}")


# -- session commands ------------------------------------------------------------------------


def cmd_login(magics: RunpodMagics, args: Args, cell: str | None) -> None:
    from IPython.core.error import StdinNotImplementedError

    from rp_jupyter.api.redact import Secret

    try:
        key = getpass.getpass("Runpod API key: ")
    except EOFError:
        key = ""
    except StdinNotImplementedError:
        raise usage_error("%runpod login needs a frontend that can ask for input",
                          f"set {API_KEY_ENV} in the environment instead") from None
    key = key.strip()
    if not key:
        raise usage_error("no key entered; nothing changed", "run %runpod login again")
    magics.session_key = Secret(key)
    _say("API key set for this session (kept in memory only; never saved or shown).")


def cmd_logout(magics: RunpodMagics, args: Args, cell: str | None) -> None:
    had = magics.session_key is not None
    magics.session_key = None
    _say("Forgot the key given to %runpod login." if had else "No key was given to %runpod login.")


def cmd_config(magics: RunpodMagics, args: Args, cell: str | None) -> SettingsReport:
    return SettingsReport(effective_settings(magics))


def cmd_help(magics: RunpodMagics, args: Args, cell: str | None) -> None:
    if args.command is None:
        print(HELP)
        return
    try:
        print(command_help(args.command))
    except KeyError:
        raise usage_error(f"no command {args.command!r}", "%runpod help lists them") from None
