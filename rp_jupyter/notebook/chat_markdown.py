"""A chat reply, and a whole conversation, as Markdown (and plain text).

The reply is the model's Markdown as it is (code blocks kept), then a footer: model, tokens
in and out, time to first token, tokens per second.  While it streams, a code block the
model has opened but not yet closed is closed at the end of the text shown, so the footer
never lands inside it.  Under the footer, each line a feature adds to a job's panel (see
:mod:`rp_jupyter.notebook.panel_parts`: what the reply cost, why it waits, why the budget
stopped it).  While presenting, the footer leaves out the timings.  Every frontend renders
``text/markdown``; saved and headless notebooks keep it with ``text/plain`` beside it.

Example::

    display(reply_bundle(reply), raw=True)     # {"text/markdown": ..., "text/plain": ...}
"""

from __future__ import annotations

import re
from typing import Any

from rp_jupyter.notebook.panel_parts import parts
from rp_jupyter.notebook.presentation import presenting

__all__ = ["close_open_fence", "footer_text", "history_bundle", "part_lines", "reply_bundle",
           "reply_markdown"]

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")
TEXT_PLAIN_CHARS = 20_000


def close_open_fence(text: str) -> str:
    """``text`` with a code block left open at its end closed (a reply cut mid-block)."""
    opened: str | None = None
    for line in text.splitlines():
        found = FENCE.match(line)
        if found is None:
            continue
        marker = found.group(1)
        if opened is None:
            opened = marker
        elif marker[0] == opened[0] and len(marker) >= len(opened) \
                and not line.strip()[len(marker):].strip():
            opened = None
    if opened is None:
        return text
    return text + ("" if text.endswith("\n") else "\n") + opened


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _escaped(text: str) -> str:
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def footer_text(reply: Any) -> str:
    """``llm · rp-jupyter/fake-llm · 14 tokens in · 120 out · first token 0.21 s ·
    48.3 tokens/s``, with what is known so far (and why it ended, when not done); while
    presenting, without the timings."""
    timed = not presenting()
    shown = [str(reply.endpoint_id)]
    status = str(reply.status)
    if not reply.is_final:
        if reply.first_token_at is None:
            waited = f" {int(max(0.0, reply.elapsed))} s" if timed else ""
            shown.append(f"waiting for the first token…{waited}")
        else:
            shown.append("streaming…")
    elif status != "COMPLETED":
        shown.append(status)
    if reply.model:
        shown.append(reply.model)
    usage = reply.usage
    if usage is not None and usage.input is not None:
        shown.append(f"{usage.input:,} tokens in")
    if usage is not None and usage.output is not None:
        shown.append(f"{usage.output:,} out")
    if timed and reply.ttft is not None:
        shown.append(f"first token {_seconds(reply.ttft)}")
    rate = reply.tokens_per_second
    if timed and rate is not None:
        shown.append(f"{rate:,.1f} tokens/s")
    if reply.finish_reason and reply.finish_reason != "stop":
        shown.append(f"finish: {reply.finish_reason}")
    if reply.cached:
        shown.append("answered from the journal")
    if reply.note:
        shown.append(reply.note)
    return " · ".join(shown)


def part_lines(reply: Any) -> list[str]:
    """What features add to a job's panel, for this reply: notes (why it waits, why the
    budget stopped it), then footers (what it cost)."""
    return parts.notes(reply) + parts.footers(reply)


def _problem(reply: Any) -> str | None:
    if not reply.is_final or str(reply.status) == "COMPLETED":
        return None
    from rp_jupyter.notebook.static import error_summary

    return error_summary(reply) or str(reply.status)


def reply_markdown(reply: Any, text: str | None = None) -> str:
    """The reply's text (``text``: what has streamed so far) and its footer, as Markdown."""
    body = reply.text if text is None else text
    pieces = [close_open_fence(body)] if body else []
    problem = _problem(reply)
    if problem:
        pieces.append(f"**{_escaped(str(reply.status).lower())}:** {_escaped(problem)}")
    pieces.append(f"<sub>{_escaped(footer_text(reply))}</sub>")
    pieces += [f"<sub>{_escaped(line)}</sub>" for line in part_lines(reply)]
    return "\n\n".join(pieces)


def reply_plain(reply: Any, text: str | None = None) -> str:
    body = reply.text if text is None else text
    body = body or ""
    if len(body) > TEXT_PLAIN_CHARS:
        body = body[:TEXT_PLAIN_CHARS] + f"… ({len(body) - TEXT_PLAIN_CHARS:,} more chars)"
    problem = _problem(reply)
    lines = [body] if body else []
    if problem:
        lines.append(f"{str(reply.status).lower()}: {problem}")
    lines.append(f"[{footer_text(reply)}]")
    return "\n".join(lines + part_lines(reply))


def reply_bundle(reply: Any, text: str | None = None) -> dict[str, Any]:
    """The reply as ``text/markdown`` and ``text/plain`` (see the module docstring)."""
    return {"text/markdown": reply_markdown(reply, text), "text/plain": reply_plain(reply, text)}


def history_bundle(chat: Any, name: str | None = None) -> dict[str, Any]:
    """A whole conversation: the system message, then each turn, question and reply."""
    title = f"Conversation {name!r}" if name else "Conversation"
    head = f"**{_escaped(title)}** with `{chat.endpoint.endpoint_id}` · {len(chat.turns)} turn(s)"
    markdown, plain = [head], [f"{title} with {chat.endpoint.endpoint_id}: "
                               f"{len(chat.turns)} turn(s)"]
    if chat.system:
        markdown.append(f"*system:* {_escaped(chat.system)}")
        plain.append(f"system: {chat.system}")
    for number, turn in enumerate(chat.turns, 1):
        question = str(turn.question.get("content") or "")
        quoted = "\n".join(f"> {line}" for line in question.splitlines() or [""])
        markdown += [f"**{number}. You**", quoted, reply_markdown(turn.reply)]
        plain += [f"{number}. You: {question}", reply_plain(turn.reply)]
    if chat.branches:
        markdown.append(f"<sub>{len(chat.branches)} earlier branch(es) kept in .branches</sub>")
    return {"text/markdown": "\n\n".join(markdown), "text/plain": "\n".join(plain)}
