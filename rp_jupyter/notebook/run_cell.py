"""``%%runpod run``: read the cell, build the request, send it, show the job.

A malformed cell, a bad flag or a missing setting raises before anything is sent.
"""

from __future__ import annotations

import argparse
import json
import math
from html import escape
from itertools import product
from typing import TYPE_CHECKING, Any

from rp_jupyter.api.json_values import check_json
from rp_jupyter.api.redact import MASK
from rp_jupyter.jobs.interrupts import SubmitInterrupted
from rp_jupyter.notebook.cell_input import parse_cell
from rp_jupyter.notebook.context import display_mode, should_block
from rp_jupyter.notebook.flag_values import duration_flag, http_url_flag, variable_name_flag
from rp_jupyter.notebook.sweep_inputs import with_params
from rp_jupyter.notebook.usage import JobInterrupted, usage_error

if TYPE_CHECKING:
    from rp_jupyter.notebook.magics import RunpodMagics

__all__ = ["DryRun", "cmd_run", "parse_sweeps", "show_job"]

MAX_SWEEP_JOBS = 10_000


def cmd_run(magics: RunpodMagics, args: argparse.Namespace, cell: str | None) -> Any:
    if cell is None:
        raise usage_error("run sends a cell's contents: put %%runpod run on a cell's first line",
                          'e.g.\n    %%runpod run my-endpoint\n    {"prompt": "Hello"}')
    settings = magics.settings()
    options = _run_options(args, settings)  # every flag is checked before the cell is read
    sweeps = parse_sweeps(args.sweep)
    if args.sync and sweeps:
        raise usage_error("--sync and --sweep do not go together",
                          "sweeps submit through /run; drop --sync")
    if args.out:
        variable_name_flag("--out", args.out)
    if args.base_url:
        http_url_flag("--base-url", args.base_url, "http://127.0.0.1:8000/v2")
    text_key = args.text_key if args.text_key is not None else settings["text_key"]
    if not text_key:
        raise usage_error("--text-key needs a name", "e.g. --text-key question")
    parsed = parse_cell(cell, magics.shell.user_ns,
                        format=args.format or settings["input_format"],
                        text_key=text_key, expand=not args.no_expand)
    check_json(parsed.value)  # too deep, circular, not encodable: refused before anything copies it
    if sweeps:
        _check_sweep_fits(parsed.value, sweeps)
    cache = args.cache or settings["cache"]
    endpoint = magics.endpoint(args.endpoint, args.base_url)
    if args.dry_run:
        return DryRun(endpoint, parsed.value, options, sync=args.sync, read_as=parsed.read_as,
                      has_key=endpoint.has_api_key, sweeps=sweeps)
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
    try:
        if args.sync:
            job = endpoint.run_sync(parsed.value, cache=cache, **options)
        else:
            job = endpoint.run(parsed.value, cache=cache, **options)
    except SubmitInterrupted as stop:  # the job it started is cancelled: say so, in one line
        if stop.job is not None:
            magics.remember(stop.job, name=args.out)
        raise JobInterrupted(stop.describe()) from None
    magics.remember(job, name=args.out)
    if args.out:
        magics.shell.user_ns[args.out] = job
    show_job(job, mode=mode, block=block, read_as=parsed.read_as, name=args.out)
    return job


def show_job(job: Any, *, mode: str, block: bool, read_as: str | None = None,
             name: str | None = None) -> None:
    """The live panel, or a blocking display; a one-line note when told not to wait
    outside a live frontend (nothing could update a display later there)."""
    if block or mode == "live":
        from rp_jupyter.notebook.display import present_job

        present_job(job, mode=mode, block=block, read_as=read_as, name=name)
    else:
        from rp_jupyter.notebook.presented import mark_presented

        print(f"Submitted job {job.id} to endpoint {job.endpoint_id} ({job.status}); not "
              "waiting for it: see %runpod status, or job.result()")
        mark_presented(job)  # a snapshot of it now would only go stale


def _run_options(args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for flag, name, trait in (("--timeout", "timeout", "execution_timeout"),
                              ("--ttl", "ttl", "ttl")):
        typed = getattr(args, name)
        value = typed or settings[trait]
        if value:
            source = None if typed else f"RunpodMagics.{trait}"
            options[trait] = duration_flag(flag, value, source)
    if args.low_priority:
        options["low_priority"] = True
    if args.webhook:
        options["webhook"] = http_url_flag("--webhook", args.webhook,
                                           "https://example.com/runpod-hook")
    return options


def parse_sweeps(specs: list[str]) -> dict[str, list[Any]]:
    """``["temperature=0.2,0.7", "seed=1,2"]`` → ``{"temperature": [0.2, 0.7], "seed": [1, 2]}``.

    Each value is read as JSON when it can be (numbers, true/false, null, quoted strings),
    else kept as a string.  A value holding commas is quoted (``prompt="a, b","c"``), or
    all the values are one JSON list (``prompt=["a, b", "c"]``).  Keys are dotted paths
    (``options.temperature``).
    """
    sweeps: dict[str, list[Any]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        items = _sweep_values(spec, values) if sep else []
        if not key or not sep or all(v == "" for v in items):
            raise usage_error(f"--sweep {spec!r}: write KEY=V1,V2,...",
                              "e.g. --sweep temperature=0.2,0.7,1.0")
        if not all(part.strip() for part in key.split(".")):
            raise usage_error(f"--sweep {key!r}: a dotted key needs a name between the dots",
                              "e.g. --sweep options.temperature=0.2,0.7")
        if key in sweeps:
            raise usage_error(f"--sweep {key} is given twice", "list all its values once")
        sweeps[key] = [_sweep_value(v) if isinstance(v, str) else v for v in items if v != ""]
        check_json(sweeps[key], f"--sweep {key}")
    combos = math.prod(len(values) for values in sweeps.values())
    if combos > MAX_SWEEP_JOBS:
        raise usage_error(f"--sweep asks for {combos:,} jobs; a cell sends at most "
                          f"{MAX_SWEEP_JOBS:,}", "use fewer values, or rp_jupyter.sweep(...) "
                          "from Python for larger grids")
    return sweeps


def _sweep_values(spec: str, text: str) -> list[Any]:
    """The values of one ``--sweep``: a JSON list, or items split on the commas that stand
    outside double quotes (each item stripped; quoted ones keep their commas)."""
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except (ValueError, RecursionError):
            values = None
        if not isinstance(values, list):
            raise usage_error(f"--sweep {spec!r}: the values start like a JSON list but are "
                              "not one", """e.g. --sweep 'prompt=["a, b", "c"]'""")
        return values
    items, current, quoted, escaped = [], [], False, False
    for char in text:
        if quoted and escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if quoted:
        raise usage_error(f"--sweep {spec!r}: a quoted value is never closed",
                          """close its quote: --sweep 'prompt="a, b","c"'""")
    items.append("".join(current).strip())
    return items


def _sweep_value(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _check_sweep_fits(value: dict[str, Any], sweeps: dict[str, list[Any]]) -> None:
    """Every swept key can be set in the cell's input (a dotted key needs objects)."""
    try:
        with_params(value, {key: values[0] for key, values in sweeps.items()})
    except ValueError as err:
        raise usage_error(f"--sweep: {err}", "sweep a key whose parents are objects in "
                          "the input, or a new top-level key") from None


class DryRun:
    """``--dry-run``: the exact request that would be sent (secrets masked); nothing is sent."""

    def __init__(self, endpoint: Any, value: dict[str, Any], options: dict[str, Any], *,
                 sync: bool, read_as: str, has_key: bool, sweeps: dict[str, list[Any]]) -> None:
        from rp_jupyter.api.request import build_request

        combos = [dict(zip(sweeps, values, strict=True)) for values in product(*sweeps.values())]
        first = with_params(value, combos[0]) if combos else value
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
