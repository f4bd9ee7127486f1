"""A chat reply in a cell: streaming Markdown with a Cancel button, whatever runs the
notebook.

- ``live``: the reply is a ``text/markdown`` display updated in place by the ticker (a few
  times a second, never once per token), so the frontend renders it as Markdown, code
  blocks included; below it a Cancel button.  The last update is the final reply, so the
  saved notebook holds it as Markdown and plain text, with no widget needed.
- ``headless``: blocks, updating one display; the final reply is saved as ``text/markdown``
  and ``text/plain``.
- ``terminal``: blocks, printing the reply as it streams, then its footer.

Interrupting a blocking cell cancels the reply.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from rp_jupyter import formats
from rp_jupyter.notebook.chat_markdown import footer_text, history_bundle, reply_bundle
from rp_jupyter.notebook.context import DisplayMode, display_mode
from rp_jupyter.notebook.markup import MUTED, esc, failure_note
from rp_jupyter.notebook.presented import mark_presented, presented_in_this_cell
from rp_jupyter.notebook.ticker import MessageBudget, ticker

__all__ = ["ChatPanel", "present_reply", "register_chat_display", "unregister_chat_display"]

#: Markdown re-renders the whole reply on each update: a few a second read as streaming
UPDATES_PER_SECOND = 8.0
HEADLESS_UPDATE_SECONDS = 1.0


class StreamedText:
    """The text a reply has streamed so far, read incrementally (whatever the chunks'
    shape: OpenAI chunk objects, event-stream text, vLLM batches)."""

    def __init__(self) -> None:
        self._reader = formats.ReplyStream()
        self._seen = 0
        self._attempt = 1

    def sync(self, reply: Any) -> bool:
        attempt, new = reply.chunks_since(self._seen)
        if attempt != self._attempt:
            self.__init__()  # type: ignore[misc]
            self._attempt = attempt
            attempt, new = reply.chunks_since(0)
        for chunk in new:
            self._reader.feed(chunk)
        self._seen += len(new)
        return bool(new)

    @property
    def text(self) -> str:
        return self._reader.reply.text


def final_text(reply: Any) -> str:
    return reply.text or ""


class ChatPanel:
    """The live view of one reply (see the module docstring); shown by :meth:`show`."""

    def __init__(self, reply: Any) -> None:
        import ipywidgets as widgets

        self.reply = reply
        self.text = StreamedText()
        self.budget = MessageBudget(rate=UPDATES_PER_SECOND, burst=2)
        self.state = "new"
        self.note: str | None = None
        self._dirty = True
        self._shown_second = -1
        self._sent: dict[str, Any] | None = None
        self._handle: Any = None
        self._lock = threading.RLock()
        self._unsubscribe: Callable[[], None] | None = None
        self.cancel_button = widgets.Button(description="Cancel", icon="stop",
                                            layout=widgets.Layout(width="auto"),
                                            tooltip="Stop this reply", disabled=reply.is_final)
        self.note_html = widgets.HTML()
        self.actions = widgets.HBox([self.cancel_button, self.note_html])
        self.cancel_button.on_click(lambda _button: self.cancel())

    def __repr__(self) -> str:
        return f"<ChatPanel reply={self.reply.id} state={self.state}>"

    def show(self) -> None:
        """Display the reply and its Cancel button in the current cell."""
        from IPython.display import display

        from rp_jupyter.notebook.job_view import widget_bundle

        with self._lock:
            bundle = self._bundle()
            self._handle = display(bundle, raw=True, display_id=True)
            self._sent = bundle
            self.state = "final" if self.reply.is_final else "live"
            if self.state == "live":
                display(widget_bundle(self.actions, ""), raw=True)
                self._unsubscribe = self.reply.subscribe(self._changed)
        if self.state == "live":
            ticker().add(self)

    def _bundle(self) -> dict[str, Any]:
        if self.reply.is_final:
            return reply_bundle(self.reply, final_text(self.reply))
        self.text.sync(self.reply)
        return reply_bundle(self.reply, self.text.text)

    def _changed(self, reply: Any, event: str) -> None:
        """Engine thread: only note it, the ticker does the rest."""
        self._dirty = True
        ticker().add(self)

    def tick(self, now: float) -> bool:
        if not self._lock.acquire(blocking=False):
            return True
        try:
            if self.state != "live":
                return False
            final = self.reply.is_final
            second = int(time.time())
            if not (self._dirty or final or second != self._shown_second):
                return True
            if not final and not self.budget.take(now=now):
                return True
            self._dirty = False
            self._shown_second = second
            self._update(final)
            return not final
        finally:
            self._lock.release()

    def finish_now(self) -> None:
        """Show the final reply now if it is final (a blocking cell ends with it)."""
        with self._lock:
            if self.state == "live" and self.reply.is_final:
                self._update(True)

    def _update(self, final: bool) -> None:
        bundle = self._bundle()
        if bundle != self._sent:
            self._handle.update(bundle, raw=True)
            self._sent = bundle
        if final:
            self.state = "final"
            self.cancel_button.disabled = True
            if self.note:
                self.note_html.value = f'<span style="{MUTED}">{esc(self.note)}</span>'
            else:  # nothing left to do or say: the bar goes
                self.actions.layout.display = "none"
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None

    def cancel(self) -> None:
        """The Cancel button: stop the reply, off the kernel's path."""
        if self.reply.is_final:
            return
        self.cancel_button.disabled = True
        self.note_html.value = f'<span style="{MUTED}">cancelling…</span>'

        def run() -> None:
            try:
                self.reply.cancel()
                self.note = None
            except Exception as exc:  # shown beside the button, never raised into the kernel
                self.note = failure_note("cancel", exc)
            self._dirty = True
            ticker().add(self)

        threading.Thread(target=run, name="rp_jupyter-cancel-reply", daemon=True).start()


# -- presenting a reply in the running cell ------------------------------------------------


def present_reply(reply: Any, *, mode: DisplayMode, block: bool) -> None:
    """Show ``reply`` in the running cell as the module docstring says."""
    mark_presented(reply)
    if mode == "terminal":
        print_reply(reply)
    elif mode == "headless":
        _present_headless(reply)
    else:
        panel = ChatPanel(reply)
        panel.show()
        if block:
            from rp_jupyter.notebook.display import wait_interruptibly

            wait_interruptibly([reply], on_poll=None, on_stop=panel.finish_now)
            panel.finish_now()


def _present_headless(reply: Any) -> None:
    from IPython.display import display

    from rp_jupyter.notebook.display import wait_interruptibly

    streamed = StreamedText()
    streamed.sync(reply)
    bundle = reply_bundle(reply, streamed.text)
    handle = display(bundle, raw=True, display_id=True)
    sent = {"bundle": bundle, "at": time.monotonic()}

    def update() -> None:
        if time.monotonic() - sent["at"] < HEADLESS_UPDATE_SECONDS:
            return
        streamed.sync(reply)
        fresh = reply_bundle(reply, streamed.text)
        sent["at"] = time.monotonic()
        if fresh != sent["bundle"]:
            sent["bundle"] = fresh
            handle.update(fresh, raw=True)

    def final() -> None:
        handle.update(reply_bundle(reply, final_text(reply)), raw=True)

    wait_interruptibly([reply], on_poll=update, on_stop=final)
    final()


def print_reply(reply: Any, out: TextIO | None = None) -> None:
    """The reply printed as it streams, then its footer (Ctrl-C cancels it)."""
    out = out or sys.stdout
    last = ""
    try:
        for piece in reply.text_stream():
            out.write(piece)
            out.flush()
            last = piece or last
    except KeyboardInterrupt:
        try:
            reply.cancel()
            said = f"Interrupted: cancelled reply {reply.id} on endpoint {reply.endpoint_id}"
        except Exception as exc:
            said = f"Interrupted: {failure_note('cancel', exc)}"
        out.write(("\n" if last and not last.endswith("\n") else "") + said + "\n")
        raise
    except Exception:
        pass  # the reply's end says what went wrong
    reply.wait()
    lines = []
    if str(reply.status) != "COMPLETED":
        from rp_jupyter.notebook.static import error_summary

        lines.append(f"{str(reply.status).lower()}: {error_summary(reply) or reply.status}")
    lines.append(f"[{footer_text(reply)}]")
    out.write(("\n" if last and not last.endswith("\n") else "") + "\n".join(lines) + "\n")
    out.flush()


# -- replies and conversations as a cell's value -----------------------------------------------


def _display_reply(reply: Any) -> None:
    from IPython import get_ipython
    from IPython.display import display

    mode = display_mode(get_ipython())
    if presented_in_this_cell(reply):
        if mode == "terminal":
            print(repr(reply))
        return
    mark_presented(reply)
    if mode == "live":
        ChatPanel(reply).show()
    else:
        display(reply_bundle(reply, final_text(reply)), raw=True)


def _display_chat(chat: Any) -> None:
    from IPython.display import display

    display(history_bundle(chat), raw=True)


def register_chat_display(ip: Any) -> None:
    """Show a ``ChatReply`` that is a cell's value as its Markdown panel, and a ``Chat`` as
    its conversation (by name, so loading the extension imports neither)."""
    formatter = ip.display_formatter.ipython_display_formatter
    formatter.for_type_by_name("rp_jupyter.jobs.chat_reply", "ChatReply", _display_reply)
    formatter.for_type_by_name("rp_jupyter.jobs.chat", "Chat", _display_chat)


def unregister_chat_display(ip: Any) -> None:
    formatter = ip.display_formatter.ipython_display_formatter
    formatter.pop("rp_jupyter.jobs.chat_reply.ChatReply", None)
    formatter.pop("rp_jupyter.jobs.chat.Chat", None)
