"""Tuning a chat: one turn asked with several parameter values, the replies side by side.

- :func:`chat_sweep` (``%%runpod chat --sweep temperature=0.2,0.7,1.0``): one reply per
  combination, in the sweep grid, with the conversation so far as their history; the
  conversation itself is left as it is.
- :class:`ChatPlayground` (``rp_jupyter.playground(endpoint, chat=...)``): controls for
  some parameters; each change asks again (from the journal when those values were asked
  before) and the newest replies stand side by side, each under its values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rp_jupyter.notebook.context import display_mode, should_block
from rp_jupyter.notebook.markup import MUTED, esc
from rp_jupyter.notebook.playground import Playground, start_board
from rp_jupyter.notebook.sweep import Sweep
from rp_jupyter.notebook.sweep_inputs import as_endpoint, describe_params, parameter_grid

__all__ = ["ChatPlayground", "ChatSweep", "chat_playground", "chat_sweep"]

KEEP_REPLIES = 3


class ChatSweep(Sweep):
    """A sweep whose jobs are replies to the same messages (see :func:`chat_sweep`)."""

    def __init__(self, endpoint: Any, messages: list[dict[str, Any]],
                 params: Mapping[str, Any], grid: list[dict[str, Any]], *,
                 cache: str = "off") -> None:
        super().__init__(endpoint, params, grid, cache=cache)
        self.messages = list(messages)

    async def _send(self, item: Any) -> Any:
        return await self.endpoint.achat(self.messages, cache=self.cache, **item.input)


def chat_sweep(chat: Any, message: str, sweeps: Mapping[str, list[Any]], *,
               cache: str = "off", wait: bool | None = None, key: str | None = None,
               **params: Any) -> ChatSweep:
    """Ask ``message`` after ``chat``'s conversation once per combination of ``sweeps``
    and show the replies side by side; the conversation is not changed.

    Example::

        s = chat_sweep(chat, "Name a river", {"temperature": [0.2, 0.7, 1.0]})
        s.result()      # one row per reply: temperature, status, output (the text), ...
    """
    from IPython import get_ipython

    history = chat.messages if key is None else _history(chat, key)
    messages = [*history, {"role": "user", "content": message}]
    base = {**chat.params, **params}
    if chat.model is not None:
        base.setdefault("model", chat.model)
    result = ChatSweep(chat.endpoint, messages, base, parameter_grid(sweeps), cache=cache)
    result.start()
    mode = display_mode(get_ipython())
    result.present(mode, should_block(mode, wait))
    return result


def _history(chat: Any, key: str) -> list[dict[str, Any]]:
    found = [{"role": "system", "content": chat.system}] if chat.system else []
    for turn in chat.history_before(key):
        if turn.answered:
            found += turn.messages()
    return found


class ChatPlayground(Playground):
    """Controls for a chat's parameters and its newest replies side by side."""

    sends = ("reply", "ask")

    def __init__(self, endpoint: Any, messages: list[dict[str, Any]],
                 params: Mapping[str, Any], controls: Mapping[str, Any], *,
                 keep: int = KEEP_REPLIES, debounce: float = 0.3) -> None:
        super().__init__(endpoint, params, controls, debounce=debounce)
        self.messages = list(messages)
        self.keep = max(1, int(keep))
        self.views: list[tuple[Any, Any, Any]] = []  # (reply, label widget, view), newest first
        self.asked: dict[int, dict[str, Any]] = {}  # id(reply) -> the values it was asked with

    def __repr__(self) -> str:
        return f"<ChatPlayground {self.endpoint.endpoint_id!r} {self.values()}>"

    def _request(self) -> Any:
        values = self.values()
        reply = self.endpoint.chat(self.messages, cache="use", **self.input)
        self.asked[id(reply)] = values
        return reply

    def _attach_view(self) -> None:
        import ipywidgets as widgets

        from rp_jupyter.notebook.job_view import JobView

        if not self._shown or self.job is None:
            return
        if any(reply is self.job for reply, _, _ in self.views):
            return
        label = widgets.HTML(f'<span style="{MUTED}">{esc(describe_params(self.values()))}'
                             "</span>")
        view = JobView(self.job, embedded=True, on_dirty=self.wake)
        self.views.insert(0, (self.job, label, view))
        for _, _, old in self.views[self.keep:]:
            self._closing.extend(old.close())
        self.views = self.views[:self.keep]
        width = f"{100 / self.keep:.0f}%"
        self._slot.children = [widgets.HBox([
            widgets.VBox([label, view.box], layout=widgets.Layout(width=width))
            for _, label, view in self.views])]

    def embedded_views(self) -> list[Any]:
        return [] if self.closed else [view for _, _, view in self.views]

    def final_bundle(self) -> dict[str, Any]:
        """The values the controls had, then the newest replies, each under its values."""
        from rp_jupyter.notebook.chat_markdown import reply_markdown, reply_plain

        title = f"chat playground on {self.endpoint.endpoint_id}: " \
            f"{describe_params(self.values())}"
        markdown, plain = [f"**{esc(title)}**"], [title]
        shown = self.views or ([(self.job, None, None)] if self.job is not None else [])
        for reply, _, _ in shown:
            said = describe_params(self.asked.get(id(reply), {}))
            markdown += [f"<sub>{esc(said)}</sub>", reply_markdown(reply)]
            plain += [said, reply_plain(reply)]
        return {"text/markdown": "\n\n".join(markdown), "text/plain": "\n".join(plain)}

    def close(self) -> None:
        super().close()
        with self.lock:
            for _, _, view in self.views:
                view.unbind()


def chat_playground(endpoint: Any, chat: Any, *, keep: int = KEEP_REPLIES,
                    debounce: float = 0.3, **controls: Any) -> ChatPlayground:
    """Controls for some request parameters of a chat; the newest replies side by side.

    ``chat`` is a :class:`~rp_jupyter.Chat` (its last question is asked again, after the
    turns before it, with its settings), a list of messages, or one question.  Controls
    follow :func:`rp_jupyter.playground`'s conventions.  Outside a live notebook, asks once
    and shows the reply.

    Example::

        rp_jupyter.playground("llm", chat=chat, temperature=(0.0, 2.0, 0.1),
                              max_tokens=[50, 100, 200])
    """
    from IPython import get_ipython

    from rp_jupyter.notebook.chat_panel import present_reply

    messages, params, ep = _chat_question(endpoint, chat)
    board = ChatPlayground(ep, messages, params, controls, keep=keep, debounce=debounce)
    return start_board(board, display_mode(get_ipython()), present_reply)  # type: ignore[return-value]


def _chat_question(endpoint: Any, chat: Any) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    from rp_jupyter.jobs.chat import Chat

    if isinstance(chat, Chat):
        if not chat.turns:
            raise ValueError("the chat has no question yet: send one first, or pass the "
                             "question itself (chat='...')")
        last = chat.turns[-1]
        history = _history_without_last(chat)
        params = {k: v for k, v in {**chat.params, **last.params}.items() if k != "cache"}
        if chat.model is not None:
            params.setdefault("model", chat.model)
        ep = as_endpoint(endpoint) if endpoint is not None else chat.endpoint
        return [*history, last.question], params, ep
    if isinstance(chat, str):
        return [{"role": "user", "content": chat}], {}, as_endpoint(endpoint)
    if isinstance(chat, list) and chat and all(isinstance(m, Mapping) for m in chat):
        return [dict(m) for m in chat], {}, as_endpoint(endpoint)
    raise TypeError("chat must be a rp_jupyter.Chat, a list of messages or a question, not "
                    f"{type(chat).__name__}")


def _history_without_last(chat: Any) -> list[dict[str, Any]]:
    found = [{"role": "system", "content": chat.system}] if chat.system else []
    for turn in chat.turns[:-1]:
        if turn.answered:
            found += turn.messages()
    return found
