"""The ``%runpod`` commands and their flags: one argparse parser per command.

Parsing errors become a ``UsageError`` naming the command and pointing at its help; ``-h``
prints the help and stops.  :data:`HELP` is the whole reference, shown by ``%runpod?``.
"""

from __future__ import annotations

import argparse
import difflib
import shlex
from collections.abc import Callable

from rp_jupyter.env_names import API_KEY_ENV, BASE_URL_ENV, BLOCK_ENV, CACHE_ENV, ENDPOINT_ID_ENV
from rp_jupyter.notebook.usage import HelpShown, usage_error

__all__ = ["COMMANDS", "HELP", "parse_line"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise usage_error(f"%runpod {self.prog}: {message}",
                          f"see %runpod {self.prog} --help")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise HelpShown()


def _parser(name: str, description: str) -> _Parser:
    return _Parser(prog=name, description=description, add_help=True, allow_abbrev=False,
                   formatter_class=argparse.RawDescriptionHelpFormatter)


def _run() -> _Parser:
    p = _parser("run", "Send the cell's contents as a job's input (use it as %%runpod run).\n"
                "Formats (--format auto): a body starting with { or [ is JSON, else a Python\n"
                "dict literal using notebook variables; any other body is text, sent as\n"
                '{"prompt": TEXT}.  {{ expr }} placeholders are filled from the notebook.')
    p.add_argument("endpoint", nargs="?", help="endpoint id (default: %%runpod endpoint)")
    p.add_argument("--format", choices=("auto", "json", "python", "text"), default=None,
                   help="how to read the cell (default auto)")
    p.add_argument("--text-key", metavar="KEY", help='key for text bodies (default "prompt")')
    p.add_argument("--no-expand", action="store_true", help="leave {{ }} placeholders as they are")
    p.add_argument("--dry-run", action="store_true",
                   help="show the exact request (secrets masked) and send nothing")
    p.add_argument("--sync", action="store_true", help="use /runsync instead of /run")
    wait = p.add_mutually_exclusive_group()
    wait.add_argument("--wait", dest="wait", action="store_true", default=None,
                      help="block in the cell until the job is final")
    wait.add_argument("--no-wait", dest="wait", action="store_false",
                      help="return at once with the live panel (interactive kernels)")
    p.add_argument("-o", "--out", metavar="NAME", help="bind the Job to this variable at once")
    p.add_argument("--timeout", metavar="DURATION",
                   help="execution timeout: 90s, 10m, 2h (5 s .. 7 days)")
    p.add_argument("--ttl", metavar="DURATION", help="job time-to-live (10 s .. 7 days)")
    p.add_argument("--low-priority", action="store_true",
                   help="do not scale workers up for this job")
    p.add_argument("--webhook", metavar="URL", help="URL to POST the result to when final")
    p.add_argument("--cache", choices=("use", "refresh", "off"), default=None,
                   help="use: answer an identical earlier request from the journal")
    p.add_argument("--base-url", metavar="URL", help="API base URL for this cell")
    p.add_argument("--sweep", metavar="KEY=V1,V2,...", action="append", default=[],
                   help="run the product of the values (repeat for more keys)")
    return p


def _chat() -> _Parser:
    p = _parser("chat", "Chat with a language model (%%runpod chat): the reply streams in.\n"
                "The cell is your message ({{ expr }} placeholders as in run); the reply\n"
                "streams in as Markdown, with Cancel.  Each chat cell adds a turn to the\n"
                "endpoint's conversation (or the one named with -o) until --new; running an\n"
                "earlier chat cell again asks that turn again where the frontend sends cell\n"
                "ids (JupyterLab, Notebook 7).  The flags apply to the cell's turn, --system\n"
                "to the conversation.  %runpod chat --history [NAME] shows a conversation.\n"
                "Sent to the endpoint's OpenAI route (/openai/v1/chat/completions), or as a\n"
                "/run job where it has none.  A reply is a job: in the journal (%runpod jobs,\n"
                "%runpod result), priced (%runpod price, %runpod cost) and held to the budget\n"
                "(%runpod budget) like any other.")
    p.add_argument("endpoint", nargs="?", help="endpoint id (default: %%runpod endpoint)")
    p.add_argument("--model", metavar="M", help="the model to ask (default: the endpoint's)")
    p.add_argument("--system", metavar="TEXT", help="the conversation's system message")
    p.add_argument("--temperature", metavar="T", help="sampling temperature, e.g. 0.7")
    p.add_argument("--max-tokens", metavar="N", help="longest reply, in tokens")
    p.add_argument("--param", metavar="KEY=VALUE", action="append", default=[],
                   help="any other request field, e.g. --param seed=7 (repeatable)")
    p.add_argument("--new", action="store_true", help="start a new conversation")
    p.add_argument("-o", "--out", metavar="NAME",
                   help="the conversation to go on with, bound to this variable (a Chat)")
    p.add_argument("--history", nargs="?", const=True, default=None, metavar="NAME",
                   help="show a conversation (the endpoint's, or NAME's)")
    p.add_argument("--sweep", metavar="KEY=V1,V2,...", action="append", default=[],
                   help="ask this turn once per combination of values, replies side by "
                   "side (the conversation is left as it is)")
    p.add_argument("--cache", choices=("use", "refresh", "off"), default=None,
                   help="use: answer the same question from the journal")
    wait = p.add_mutually_exclusive_group()
    wait.add_argument("--wait", dest="wait", action="store_true", default=None,
                      help="block in the cell until the reply is complete")
    wait.add_argument("--no-wait", dest="wait", action="store_false",
                      help="return at once with the live reply (interactive kernels)")
    p.add_argument("--no-expand", action="store_true", help="leave {{ }} placeholders as they are")
    p.add_argument("--base-url", metavar="URL", help="API base URL for this cell")
    return p


def _job_command(name: str, description: str) -> _Parser:
    p = _parser(name, description)
    p.add_argument("job", nargs="?", help="job id or variable (default: the last job)")
    return p


def _cancel() -> _Parser:
    p = _job_command("cancel", "Cancel a job (a queued one is removed, a running one stopped).")
    p.add_argument("--all", action="store_true",
                   help="cancel every unfinished job started from this notebook")
    return p


def _journal_command(name: str, description: str) -> _Parser:
    """A command that reads a job from the journal (any session, no endpoint needed)."""
    p = _parser(name, description)
    p.add_argument("job", nargs="?", help="variable, job id or a unique start of one "
                   "(default: this session's last job, else the journal's newest)")
    return p


def _result() -> _Parser:
    return _journal_command("result", "The output of a job, from the journal (works after the "
                            "server has forgotten it, after a kernel restart, from any session, "
                            "with no endpoint).")


def _jobs() -> _Parser:
    p = _parser("jobs", "The journal's jobs, newest first, with per-row cancel, retry, open.")
    p.add_argument("--endpoint", metavar="ID", help="only this endpoint")
    p.add_argument("--status", metavar="STATUS", action="append",
                   help="only this status (repeatable), e.g. COMPLETED, FAILED")
    p.add_argument("--last", metavar="DURATION", help="only jobs created in the last 1h, 2d, ...")
    p.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
    return p


def _health() -> _Parser:
    p = _parser("health", "Worker and job counters of an endpoint.")
    p.add_argument("endpoint", nargs="?", help="endpoint id (default: %%runpod endpoint)")
    p.add_argument("--watch", action="store_true", help="live panel with a chart, refreshed")
    p.add_argument("--interval", metavar="DURATION", default="5s",
                   help="refresh interval for --watch (default 5s)")
    p.add_argument("--base-url", metavar="URL", help="API base URL")
    return p


def _purge() -> _Parser:
    p = _parser("purge", "Remove every queued job of an endpoint (running jobs go on).")
    p.add_argument("endpoint", nargs="?", help="endpoint id (default: %%runpod endpoint)")
    p.add_argument("--yes", action="store_true", help="really purge (required)")
    p.add_argument("--base-url", metavar="URL", help="API base URL")
    return p


def _local() -> _Parser:
    p = _parser("local", "Start a local Runpod-compatible endpoint in the background and make "
                "it the default.\nHANDLER: an example (echo, tokens, images, chaos, llm, "
                "imagegen, transcribe, embed),\npath/to/file.py[:name] (a runpod worker "
                "script is served unchanged), module:name,\nor the name of a handler "
                "function defined in the notebook.")
    p.add_argument("handler", nargs="?", default="echo", help="the handler (default: echo)")
    p.add_argument("--workers", type=int, default=None,
                   help="workers, as max workers (default 1; 0: none allowed)")
    p.add_argument("--id", dest="endpoint_id", metavar="ID",
                   help="endpoint id (default: the handler's name)")
    p.add_argument("--aggregate", action="store_true",
                   help="return_aggregate_stream: the final output lists every yield")
    p.add_argument("--retention", metavar="DURATION",
                   help="how long results are kept after a job ends (default 30m, as hosted; "
                   "/runsync results at most 1m)")
    p.add_argument("--runpod-worker", action="store_true",
                   help="run a worker script as it is (python worker.py), as real "
                   "runpod-python workers pulling jobs from the endpoint; prints the "
                   "environment they get")
    p.add_argument("--stop", action="store_true", help="stop the local endpoint(s)")
    sim = p.add_argument_group("why jobs wait, simulated (also on a running endpoint)")
    sim.add_argument("--cold-start", metavar="DURATION",
                     help="each worker initializes this long first (a cold start)")
    sim.add_argument("--throttled", type=int, metavar="N",
                     help="N of the workers are throttled: no GPU capacity")
    sim.add_argument("--unhealthy", type=int, metavar="N",
                     help="N of the workers are unhealthy: crash-looping")
    return p


def _price() -> _Parser:
    p = _parser("price", "The price of an endpoint's jobs, per second of execution: a number "
                "of dollars,\nor a GPU name looked up in Runpod's price table (shipped with "
                "its date).\nWithout arguments: the prices set, and the GPU table.  Jobs that "
                "return\noutput.cost (public endpoints) are costed at that; local endpoints "
                "are free\nunless a price is set (for teaching); other endpoints' costs are "
                "unknown.")
    p.add_argument("endpoint", nargs="?", help="endpoint id")
    p.add_argument("price", nargs="?", metavar="PRICE|GPU",
                   help="dollars per second (0.00044) or a GPU name (A100, H100, 4090, ...)")
    p.add_argument("--active", action="store_true",
                   help="the active-worker price of the GPU (default: flex)")
    p.add_argument("--clear", action="store_true", help="forget the endpoint's price")
    return p


def _cost() -> _Parser:
    p = _parser("cost", "What finished jobs cost, from the journal: a table and a bar chart.")
    p.add_argument("--endpoint", metavar="ID", help="only this endpoint")
    p.add_argument("--last", metavar="DURATION", help="only jobs created in the last 7d, 2h, ...")
    p.add_argument("--by", choices=("endpoint", "day", "notebook"), default="endpoint",
                   help="group by endpoint (default), day or notebook")
    return p


def _budget() -> _Parser:
    p = _parser("budget", "A budget for this session (or, with --per-day, for each day): jobs "
                "and sweeps\nthat would pass it are refused, and running jobs that pass it are "
                "cancelled.\nWithout an amount: the limits and what is spent.")
    p.add_argument("amount", nargs="?", metavar="DOLLARS", help="e.g. 2.50")
    p.add_argument("--per-day", action="store_true",
                   help="a limit for each day (every job of the day, in every notebook)")
    p.add_argument("--off", action="store_true",
                   help="lift the budget (both, or only the daily one with --per-day)")
    return p


def _present() -> _Parser:
    p = _parser("present", "Presenting to a room: panels hide job ids and timings and show "
                "their text larger.")
    p.add_argument("state", nargs="?", choices=("on", "off"),
                   help="on or off (default: say which it is)")
    return p


def _replay() -> _Parser:
    p = _journal_command("replay", "Play a finished job from the journal again, at the pace it "
                         "streamed (no endpoint needed; nothing is sent).")
    p.add_argument("--speed", metavar="N", default="1",
                   help="times the original pace, 0.1 .. 100 (default 1; 2 is twice as fast)")
    return p


def _endpoint() -> _Parser:
    p = _parser("endpoint", "Set (or show) the default endpoint for this notebook.")
    p.add_argument("endpoint", nargs="?", help="endpoint id")
    p.add_argument("--base-url", metavar="URL", help="API base URL (e.g. a local endpoint)")
    return p


def _help() -> _Parser:
    p = _parser("help", "Help on %runpod, or on one command.")
    p.add_argument("command", nargs="?", help="a command name")
    return p


COMMANDS: dict[str, Callable[[], _Parser]] = {
    "run": _run,
    "chat": _chat,
    "status": lambda: _job_command("status", "Status and timings of a job (asked of the "
                                   "server while it runs; from the journal once final)."),
    "cancel": _cancel,
    "retry": lambda: _job_command("retry", "Requeue a FAILED or TIMED_OUT job (same id)."),
    "rerun": lambda: _job_command("rerun", "Send a job's input again as a new job (with its "
                                  "own panel; -o NAME of the first cell follows it)."),
    "result": _result,
    "jobs": _jobs,
    "health": _health,
    "purge": _purge,
    "local": _local,
    "present": _present,
    "replay": _replay,
    "price": _price,
    "cost": _cost,
    "budget": _budget,
    "endpoint": _endpoint,
    "login": lambda: _parser("login", "Ask for the Runpod API key (kept in memory only)."),
    "logout": lambda: _parser("logout", "Forget the key given to %runpod login."),
    "config": lambda: _parser("config", "The effective settings and where each comes from."),
    "help": _help,
}


def parse_line(line: str) -> tuple[str, argparse.Namespace]:
    """Split ``COMMAND [ARGS]`` and parse the arguments of that command."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise usage_error(f"%runpod: cannot read the line ({exc})",
                          "close the quotes you opened") from None
    if not words:
        raise usage_error("%runpod needs a command: " + ", ".join(COMMANDS),
                          "%%runpod run ENDPOINT sends the cell as a job; %runpod? for help")
    command, rest = words[0], words[1:]
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, COMMANDS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "commands: " + ", ".join(COMMANDS)
        raise usage_error(f"%runpod: unknown command {command!r}", hint)
    parser = COMMANDS[command]()
    args, unknown = parser.parse_known_args(rest)
    if unknown:
        options = [o for a in parser._actions for o in a.option_strings]
        close = difflib.get_close_matches(unknown[0], options, n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}?" if close else f"see %runpod {command} --help"
        raise usage_error(f"%runpod {command}: unknown argument {unknown[0]!r}", hint)
    return command, args


def command_help(command: str) -> str:
    return COMMANDS[command]().format_help()


def _overview() -> str:
    lines = [
        "Runpod Serverless from the notebook.",
        "",
        "  %%runpod run [ENDPOINT] [options]   send the cell's contents as a job's input",
        "  %%runpod chat [ENDPOINT] [options]  ask a language model; the reply streams in",
        "  %runpod COMMAND [options]           everything else, one line each",
        "",
        "Settings come from, in order: the command's flags; %runpod endpoint / %runpod login;",
        "%config RunpodMagics.<name> (or c.RunpodMagics.<name> in ipython_config.py);",
        f"environment variables ({ENDPOINT_ID_ENV}, {BASE_URL_ENV}, {API_KEY_ENV},",
        f"{BLOCK_ENV}, {CACHE_ENV}); built-in defaults.  %runpod config shows them.",
        "",
        "Commands:",
    ]
    for name, build in COMMANDS.items():
        description = (build().description or "").splitlines()[0]
        lines.append(f"  {name:<9} {description}")
    lines.append("")
    for build in COMMANDS.values():
        lines.append(build().format_usage().replace("usage: ", "%runpod ").rstrip())
    return "\n".join(lines)


HELP = _overview()
