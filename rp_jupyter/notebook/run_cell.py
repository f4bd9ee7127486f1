"""``%%runpod run``: read the cell, build the request, send it, show the job.

A malformed cell, a bad flag or a missing setting raises before anything is sent.
"""

from __future__ import annotations

import argparse
import json
from html import escape
from itertools import product
from typing import TYPE_CHECKING, Any

from rp_jupyter.api.redact import MASK
from rp_jupyter.notebook.cell_input import parse_cell
from rp_jupyter.notebook.context import display_mode, should_block
from rp_jupyter.notebook.durations import parse_duration
from rp_jupyter.notebook.usage import usage_error

if TYPE_CHECKING:
    from rp_jupyter.notebook.magics import RunpodMagics

__all__ = ["DryRun", "cmd_run", "parse_sweeps", "show_job"]


def cmd_run(magics: RunpodMagics, args: argparse.Namespace, cell: str | None) -> Any:
    if cell is None:
        raise usage_error("run sends a cell's contents: put %%runpod run on a cell's first line",
                          'e.g.\n    %%runpod run my-endpoint\n    {"prompt": "Hello"}')
    settings = magics.settings()
    cell = _without_silencing_semicolon(cell)
    parsed = parse_cell(cell, magics.shell.user_ns,
                        format=args.format or settings["input_format"],
                        text_key=args.text_key or settings["text_key"],
                        expand=not args.no_expand)
    options = _run_options(args, settings)
    sweeps = parse_sweeps(args.sweep)
    cache = args.cache or settings["cache"]
    endpoint = magics.endpoint(args.endpoint, args.base_url)
    if args.sync and sweeps:
        raise usage_error("--sync and --sweep do not go together",
                          "sweeps submit through /run; drop --sync")
    if args.dry_run:
        return DryRun(endpoint, parsed.value, options, sync=args.sync, read_as=parsed.read_as,
                      has_key=magics.api_key() is not None, sweeps=sweeps)
    mode = display_mode(magics.shell)
    block = should_block(mode, args.wait if args.wait is not None else magics.block)
    if sweeps:
        from rp_jupyter.notebook.sweep import sweep

        result = sweep(endpoint, parsed.value, cache=cache, wait=block, run_options=options,
                       **sweeps)
        magics.session_sweeps.append(result)
        if args.out:
            magics.shell.user_ns[args.out] = result
        return result
    if args.sync:
        job = endpoint.run_sync(parsed.value, cache=cache, **options)
    else:
        job = endpoint.run(parsed.value, cache=cache, **options)
    magics.remember(job)
    if args.out:
        magics.shell.user_ns[args.out] = job
    show_job(job, mode=mode, block=block, read_as=parsed.read_as)
    return job


def show_job(job: Any, *, mode: str, block: bool, read_as: str | None = None) -> None:
    """The live panel, or a blocking display; a one-line note when told not to wait
    outside a live frontend (nothing could update a display later there)."""
    if block or mode == "live":
        from rp_jupyter.notebook.display import present_job

        present_job(job, mode=mode, block=block, read_as=read_as)
    else:
        from rp_jupyter.notebook.presented import mark_presented

        print(f"Submitted job {job.id} to endpoint {job.endpoint_id} ({job.status}); not "
              "waiting for it: see %runpod status, or job.result()")
        mark_presented(job)  # a snapshot of it now would only go stale


def _without_silencing_semicolon(cell: str) -> str:
    """IPython silences a cell whose last character is ``;``; that ``;`` is not input."""
    stripped = cell.rstrip()
    return stripped[:-1] if stripped.endswith(";") else cell


def _run_options(args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    timeout = args.timeout or settings["execution_timeout"]
    if timeout:
        options["execution_timeout"] = parse_duration(timeout)
    ttl = args.ttl or settings["ttl"]
    if ttl:
        options["ttl"] = parse_duration(ttl)
    if args.low_priority:
        options["low_priority"] = True
    if args.webhook:
        options["webhook"] = args.webhook
    return options


def parse_sweeps(specs: list[str]) -> dict[str, list[Any]]:
    """``["temperature=0.2,0.7", "seed=1,2"]`` → ``{"temperature": [0.2, 0.7], "seed": [1, 2]}``.

    Each value is read as JSON when it can be (numbers, true/false, null, quoted strings),
    else kept as a string.
    """
    sweeps: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        items = [v.strip() for v in values.split(",")] if sep else []
        if not key or not sep or not any(items):
            raise usage_error(f"--sweep {spec!r}: write KEY=V1,V2,...",
                              "e.g. --sweep temperature=0.2,0.7,1.0")
        if key in sweeps:
            raise usage_error(f"--sweep {key} is given twice", "list all its values once")
        sweeps[key] = [_sweep_value(v) for v in items if v]
    return sweeps


def _sweep_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class DryRun:
    """``--dry-run``: the exact request that would be sent (secrets masked); nothing is sent."""

    def __init__(self, endpoint: Any, value: dict[str, Any], options: dict[str, Any], *,
                 sync: bool, read_as: str, has_key: bool, sweeps: dict[str, list[Any]]) -> None:
        from rp_jupyter.api.request import build_request

        combos = [dict(zip(sweeps, values, strict=True)) for values in product(*sweeps.values())]
        first = _with_params(value, combos[0]) if combos else value
        self.request = build_request(first, sync=sync, **options)
        self.url = f"{endpoint.url}/{'runsync' if sync else 'run'}"
        self.read_as = read_as
        self.auth = f"Authorization: Bearer {MASK}" if has_key else "(no Authorization header)"
        self.count = max(1, len(combos))

    @property
    def body(self) -> dict[str, Any]:
        return self.request.redacted

    def _text(self) -> str:
        more = f"  (1 of {self.count} sweep requests)" if self.count > 1 else ""
        return (f"Dry run: nothing was sent.{more}\nPOST {self.url}\n{self.auth}\n"
                f"Content-Type: application/json\n\n{json.dumps(self.body, indent=2)}\n\n"
                f"The cell was read as: {self.read_as}")

    def __repr__(self) -> str:
        return self._text()

    def _repr_html_(self) -> str:
        return f"<pre>{escape(self._text())}</pre>"


def _with_params(value: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``value`` with each (dotted) parameter set: ``a.b=1`` sets ``value["a"]["b"]``."""
    out = json.loads(json.dumps(value))
    for dotted, item in params.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = item
    return out
