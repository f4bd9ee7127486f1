"""``%%runpod chat``: the cell is the user's message; the reply streams in as Markdown.

Flags are checked and the cell read (placeholders filled as in ``run``) before anything is
sent; the turn goes into the conversation :mod:`chat_sessions` keeps.  ``%runpod chat
--history [NAME]`` shows a conversation; ``--sweep`` asks the turn once per combination of
values without changing the conversation.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import TYPE_CHECKING, Any

from rp_jupyter.api.json_values import check_json
from rp_jupyter.jobs.interrupts import SubmitInterrupted
from rp_jupyter.notebook.cell_input import parse_cell
from rp_jupyter.notebook.context import display_mode, should_block
from rp_jupyter.notebook.flag_values import http_url_flag, variable_name_flag
from rp_jupyter.notebook.usage import JobInterrupted, usage_error

if TYPE_CHECKING:
    from rp_jupyter.notebook.magics import RunpodMagics

__all__ = ["cmd_chat", "turn_params"]

RESERVED = ("messages", "prompt", "stream", "model")
PARAM_HINT = "e.g. --param seed=7 or --param stop='[\"\\n\\n\"]'"


def cmd_chat(magics: RunpodMagics, args: argparse.Namespace, cell: str | None) -> Any:
    sessions = magics.chat_sessions
    if args.history is not None:
        return _show_history(magics, args, cell)
    if cell is None or not cell.strip():
        raise usage_error("chat sends the cell as your message: put %%runpod chat on a "
                          "cell's first line and the message below it",
                          "e.g.\n    %%runpod chat llm\n    What do rivers carry?")
    params = turn_params(args)  # every flag is checked before the cell is read
    from rp_jupyter.notebook.run_cell import parse_sweeps

    sweeps = parse_sweeps(args.sweep)
    if args.out:
        variable_name_flag("--out", args.out)
    if args.base_url:
        http_url_flag("--base-url", args.base_url, "http://127.0.0.1:8000/v2")
    if args.system is not None and not args.system.strip():
        raise usage_error("--system needs a message", 'e.g. --system "Answer briefly."')
    message = parse_cell(cell, magics.shell.user_ns, format="text", text_key="content",
                         expand=not args.no_expand).value["content"]
    settings = magics.settings()
    cache = args.cache or settings["cache"]
    known = sessions.find(args.out, None) if args.out else None
    endpoint_id = args.endpoint or (known.endpoint.endpoint_id if known is not None else None)
    endpoint = magics.endpoint(endpoint_id, args.base_url)
    chat = sessions.conversation(endpoint, name=args.out, new=args.new, system=args.system)
    mode = display_mode(magics.shell)
    block = should_block(mode, args.wait if args.wait is not None else magics.block)
    if sweeps:
        from rp_jupyter.notebook.chat_tuning import chat_sweep

        result = chat_sweep(chat, message, sweeps, cache=cache, wait=block, key=sessions.cell_id,
                            **params)
        magics.session_sweeps.append(result)
        return result
    try:
        reply = chat.send(message, key=sessions.cell_id, cache=cache, **params)
    except SubmitInterrupted as stop:  # the reply it started is cancelled: one line says so
        if stop.job is not None:
            magics.remember(stop.job)
        raise JobInterrupted(stop.describe()) from None
    magics.remember(reply)
    from rp_jupyter.notebook.chat_panel import present_reply

    present_reply(reply, mode=mode, block=block)
    return reply


def turn_params(args: argparse.Namespace) -> dict[str, Any]:
    """The request fields the flags give: ``--model``, ``--temperature``, ``--max-tokens``
    and each ``--param KEY=VALUE`` (the value read as JSON when it is JSON)."""
    params: dict[str, Any] = {}
    if args.model is not None:
        if not args.model.strip():
            raise usage_error("--model needs a name", "e.g. --model meta-llama/Llama-3.1-8B")
        params["model"] = args.model
    if args.temperature is not None:
        params["temperature"] = _number("--temperature", args.temperature, "0.7")
    if args.max_tokens is not None:
        try:
            count = int(args.max_tokens)
        except ValueError:
            count = 0
        if count < 1:
            raise usage_error(f"--max-tokens {args.max_tokens!r}: give a whole number of "
                              "tokens, 1 or more", "e.g. --max-tokens 200")
        params["max_tokens"] = count
    for spec in args.param:
        key, sep, text = spec.partition("=")
        key = key.strip()
        if not key or not sep:
            raise usage_error(f"--param {spec!r}: write KEY=VALUE", PARAM_HINT)
        if key in RESERVED:
            raise usage_error(f"--param {key}: the cell gives the message, and {key} is "
                              "not a parameter here", "use --model for the model")
        if key in params:
            raise usage_error(f"{key} is given twice", "give each parameter once")
        params[key] = _value(text.strip())
        check_json(params[key], f"--param {key}")
    return params


def _number(flag: str, text: str, example: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise usage_error(f"{flag} {text!r}: give a number, 0 or more", f"e.g. {flag} {example}")
    return value


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _show_history(magics: RunpodMagics, args: argparse.Namespace, cell: str | None) -> Any:
    from IPython.display import display

    from rp_jupyter.notebook.chat_markdown import history_bundle

    if cell is not None and cell.strip():
        raise usage_error("--history shows a conversation; it sends nothing",
                          "use it on a line of its own: %runpod chat --history")
    name = args.history if isinstance(args.history, str) else None
    endpoint_id = args.endpoint
    if name is None and endpoint_id is None:
        endpoint_id = magics.settings()["default_endpoint"]
    chat = magics.chat_sessions.find(name, endpoint_id)
    if chat is None:
        which = f"named {name!r}" if name else f"with endpoint {endpoint_id!r}"
        print(f"No conversation {which} yet: a %%runpod chat cell starts one.")
        return None
    display(history_bundle(chat, name), raw=True)
    return None
