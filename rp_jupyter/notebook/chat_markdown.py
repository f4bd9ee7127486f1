"""A chat reply, and a whole conversation, as Markdown (and plain text).

The reply is the model's Markdown as it is (code blocks kept), then a footer: model, tokens
in and out, time to first token, tokens per second.  While it streams, a code block the
model has opened but not yet closed is closed at the end of the text shown, so the footer
never lands inside it.  Every frontend renders ``text/markdown``; saved and headless
notebooks keep it with ``text/plain`` beside it.

Example::

    display(reply_bundle(reply), raw=True)     # {"text/markdown": ..., "text/plain": ...}
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["close_open_fence", "footer_text", "history_bundle", "reply_bundle",
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
    48.3 tokens/s``, with what is known so far (and why it ended, when not done)."""
    parts = [str(reply.endpoint_id)]
    status = str(reply.status)
    if not reply.is_final:
        if reply.first_token_at is None:
            waited = max(0.0, reply.elapsed)
            parts.append(f"waiting for the first token… {int(waited)} s")
        else:
            parts.append("streaming…")
    elif status != "COMPLETED":
        parts.append(status)
    if reply.model:
        parts.append(reply.model)
    usage = reply.usage
    if usage is not None and usage.input is not None:
        parts.append(f"{usage.input:,} tokens in")
    if usage is not None and usage.output is not None:
        parts.append(f"{usage.output:,} out")
    if reply.ttft is not None:
        parts.append(f"first token {_seconds(reply.ttft)}")
    rate = reply.tokens_per_second
    if rate is not None:
        parts.append(f"{rate:,.1f} tokens/s")
    if reply.finish_reason and reply.finish_reason != "stop":
        parts.append(f"finish: {reply.finish_reason}")
    if reply.cached:
        parts.append("answered from the journal")
    if reply.note:
        parts.append(reply.note)
    return " · ".join(parts)


def _problem(reply: Any) -> str | None:
    if not reply.is_final or str(reply.status) == "COMPLETED":
        return None
    from rp_jupyter.notebook.static import error_summary

    return error_summary(reply) or str(reply.status)


def reply_markdown(reply: Any, text: str | None = None) -> str:
    """The reply's text (``text``: what has streamed so far) and its footer, as Markdown."""
    body = reply.text if text is None else text
    parts = [close_open_fence(body)] if body else []
    problem = _problem(reply)
    if problem:
        parts.append(f"**{_escaped(str(reply.status).lower())}:** {_escaped(problem)}")
    parts.append(f"<sub>{_escaped(footer_text(reply))}</sub>")
    return "\n\n".join(parts)


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
    return "\n".join(lines)


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
