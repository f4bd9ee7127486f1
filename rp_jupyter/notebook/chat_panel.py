"""A chat reply in a cell: streaming Markdown with a Cancel button, whatever runs the
notebook.

- ``live``: a :class:`~rp_jupyter.notebook.live_view.LiveView` like every panel: while the
  reply streams, an Output widget holds it as ``text/markdown`` (so the frontend renders it
  as Markdown, code blocks included), refreshed by the ticker a few times a second, never
  once per token; below it a Cancel button.  Once the reply is final the whole panel is
  replaced by the reply as Markdown and plain text, so a saved notebook holds no widget.
- ``headless``: blocks, updating one display; the final reply is saved as ``text/markdown``
  and ``text/plain``.
- ``terminal``: blocks, printing the reply as it streams, then its footer.

Interrupting a blocking cell cancels the reply and says so in one line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from rp_jupyter import formats
from rp_jupyter.notebook.chat_markdown import (
    footer_text,
    history_bundle,
    part_lines,
    reply_bundle,
)
from rp_jupyter.notebook.context import DisplayMode, display_mode
from rp_jupyter.notebook.live_view import LiveView, cancel_unless_final
from rp_jupyter.notebook.markup import esc, failure_note
from rp_jupyter.notebook.presented import mark_presented, presented_in_this_cell
from rp_jupyter.notebook.ticker import MessageBudget

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


def _as_output(bundle: dict[str, Any]) -> dict[str, Any]:
    """``bundle`` as one output of an Output widget."""
    return {"output_type": "display_data", "data": bundle, "metadata": {}}


class ChatPanel(LiveView):
    """The live view of one reply (see the module docstring); shown by :meth:`show`."""

    def __init__(self, reply: Any) -> None:
        import ipywidgets as widgets

        super().__init__()
        self.budget = MessageBudget(rate=UPDATES_PER_SECOND, burst=2)
        self.reply = reply
        self.text = StreamedText()
        self.reply_output = widgets.Output()
        self.cancel_button = self.action_button("Cancel", self.cancel, icon="stop",
                                                tooltip="Stop this reply")
        self.note_html = self.note_widget()
        self.box = widgets.VBox([self.reply_output,
                                 widgets.HBox([self.cancel_button, self.note_html])])
        self._unsubscribe: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<ChatPanel reply={self.reply.id} state={self.state}>"

    # -- the LiveView parts --------------------------------------------------------------

    def live_text(self) -> str:
        return footer_text(self.reply) + " (live panel)"

    def live_bundle(self) -> dict[str, Any]:
        self.text.sync(self.reply)
        self.reply_output.outputs = (_as_output(reply_bundle(self.reply, self.text.text)),)
        return super().live_bundle()

    def on_show(self) -> None:
        if self.state == "live":  # the reply streams on: follow it
            self._unsubscribe = self.reply.subscribe(lambda _reply, _event: self.wake())

    def refresh(self, now: float) -> bool:
        self.text.sync(self.reply)
        shown = (_as_output(reply_bundle(self.reply, self.text.text)),)
        sent = self.send(self.reply_output, now, outputs=shown)
        return not (self.send_actions(now) and sent)

    def done(self) -> bool:
        return self.reply.is_final

    def final_bundle(self) -> dict[str, Any]:
        bundle = reply_bundle(self.reply, final_text(self.reply))
        if self.note:  # what a click could not do
            bundle = {"text/markdown": f"{bundle['text/markdown']}\n\n<sub>{esc(self.note)}</sub>",
                      "text/plain": f"{bundle['text/plain']}\n{self.note}"}
        return bundle

    def widgets_to_close(self) -> list[Any]:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        return super().widgets_to_close()

    # -- the button -----------------------------------------------------------------------

    def cancel(self) -> bool:
        """The Cancel button: stop the reply, off the kernel's thread (False on a double
        click)."""
        return self.act(None, "cancel", lambda: cancel_unless_final(self.reply, "reply"),
                        pending="cancelling…")


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
        from rp_jupyter.notebook.usage import JobInterrupted

        try:
            reply.cancel()
            said = f"Interrupted: cancelled reply {reply.id} on endpoint {reply.endpoint_id}"
        except Exception as exc:
            said = f"Interrupted: {failure_note('cancel', exc)}"
        if last and not last.endswith("\n"):
            out.write("\n")
        raise JobInterrupted(said) from None  # shown as that one line
    except Exception:
        pass  # the reply's end says what went wrong
    reply.wait()
    lines = []
    if str(reply.status) != "COMPLETED":
        from rp_jupyter.notebook.static import error_summary

        lines.append(f"{str(reply.status).lower()}: {error_summary(reply) or reply.status}")
    lines.append(f"[{footer_text(reply)}]")
    lines += part_lines(reply)
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
