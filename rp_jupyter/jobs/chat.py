"""``Chat``: a conversation with a chat model on one endpoint, turn after turn.

Each :meth:`Chat.send` asks with the conversation so far and adds a turn (the question and
its :class:`~rp_jupyter.jobs.chat_reply.ChatReply`).  A turn asked again under the same key
(a notebook cell run again) replaces that turn: the conversation goes on from the turns
before it, and the turns that followed are kept in :attr:`Chat.branches`.
:meth:`Chat.fork` starts a copy without the last turn, to try a variant of it while the
original stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rp_jupyter.api.errors import InvalidRequestError

if TYPE_CHECKING:
    from rp_jupyter.jobs.chat_reply import ChatReply
    from rp_jupyter.jobs.endpoint import Endpoint

__all__ = ["Chat", "Turn"]


@dataclass
class Turn:
    """One question and its reply; ``key`` is what asked it (a notebook cell's id)."""

    question: dict[str, Any]
    reply: ChatReply
    key: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        """The reply came back whole (it counts in the conversation)."""
        return str(self.reply.status) == "COMPLETED" and self.reply.text is not None

    def messages(self) -> list[dict[str, Any]]:
        return [self.question, {"role": "assistant", "content": self.reply.text or ""}]


class Chat:
    """A conversation (see the module docstring).

    ``system`` is the system message; ``model`` and ``params`` (``temperature``,
    ``max_tokens``, ...) apply to every turn unless a turn gives its own.

    Example::

        chat = rp_jupyter.Chat(endpoint, system="Answer in one sentence.", max_tokens=60)
        chat.send("What do rivers carry?").result()
        chat.send("And glaciers?")
        print(chat.reply)                   # the last reply's text
        chat.messages                       # system, user, assistant, user, assistant
        variant = chat.fork()               # the same conversation without the last turn
        variant.send("And the wind?")
    """

    def __init__(self, endpoint: Endpoint | str, *, system: str | None = None,
                 model: str | None = None, cache: str = "off", **params: Any) -> None:
        from rp_jupyter.jobs.endpoint import Endpoint

        self.endpoint = endpoint if isinstance(endpoint, Endpoint) else Endpoint(endpoint)
        if system is not None and not isinstance(system, str):
            raise InvalidRequestError(f"system must be text, not {type(system).__name__}")
        self.system = system
        self.model = model
        self.cache = cache
        self.params = dict(params)
        self.turns: list[Turn] = []
        self.branches: list[list[Turn]] = []  # turns replaced by asking one again

    # -- reading -------------------------------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation as OpenAI messages: the system message, then every answered
        turn (question and reply).  Turns whose reply failed, was cancelled or is still
        coming are left out (they are in :attr:`turns`)."""
        found: list[dict[str, Any]] = []
        if self.system:
            found.append({"role": "system", "content": self.system})
        for turn in self.turns:
            if turn.answered:
                found += turn.messages()
        return found

    @property
    def last(self) -> ChatReply | None:
        """The last turn's reply."""
        return self.turns[-1].reply if self.turns else None

    @property
    def reply(self) -> str | None:
        """The last reply's text (so far, while it streams)."""
        last = self.last
        return last.text if last is not None else None

    @property
    def replies(self) -> list[ChatReply]:
        return [turn.reply for turn in self.turns]

    def __len__(self) -> int:
        return len(self.turns)

    def __repr__(self) -> str:
        answered = sum(turn.answered for turn in self.turns)
        return (f"<Chat with {self.endpoint.endpoint_id!r}: {len(self.turns)} turn(s), "
                f"{answered} answered>")

    # -- asking --------------------------------------------------------------------------

    def send(self, text: str | Mapping[str, Any], *, key: str | None = None,
             **params: Any) -> ChatReply:
        """Ask ``text`` (or a whole user message) after the conversation so far; returns
        the reply at once, while it streams.  A reply still streaming is waited for first
        (the next question needs it).  ``key`` names the turn (see the module docstring).
        """
        question, history, params = self._next(text, key, params)
        reply = self.endpoint.chat([*history, question], **params)
        self._add(question, reply, key, params)
        return reply

    async def asend(self, text: str | Mapping[str, Any], *, key: str | None = None,
                    **params: Any) -> ChatReply:
        """Async twin of :meth:`send`."""
        last = self._previous(key)
        if last is not None and not last.is_final:
            await last.await_final()
        question, history, params = self._next(text, key, params)
        reply = await self.endpoint.achat([*history, question], **params)
        self._add(question, reply, key, params)
        return reply

    def fork(self) -> Chat:
        """A new conversation with the same settings and every turn but the last: try a
        variant of the last question there, the original stays as it is."""
        copy = Chat(self.endpoint, system=self.system, model=self.model, cache=self.cache,
                    **self.params)
        copy.turns = list(self.turns[:-1])
        return copy

    def history_before(self, key: str | None) -> list[Turn]:
        """The turns a question asked under ``key`` goes after: all of them, or, when a
        turn has that key already, those before it."""
        index = self._index(key)
        return list(self.turns if index is None else self.turns[:index])

    # -- helpers -------------------------------------------------------------------------

    def _index(self, key: str | None) -> int | None:
        if key is None:
            return None
        for index, turn in enumerate(self.turns):
            if turn.key == key:
                return index
        return None

    def _previous(self, key: str | None) -> ChatReply | None:
        before = self.history_before(key)
        return before[-1].reply if before else None

    def _next(self, text: Any, key: str | None, params: dict[str, Any]
              ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        question = _question(text)
        last = self._previous(key)
        if last is not None and not last.is_final:
            last.wait()  # the next question needs this answer
        history: list[dict[str, Any]] = []
        if self.system:
            history.append({"role": "system", "content": self.system})
        for turn in self.history_before(key):
            if turn.answered:
                history += turn.messages()
        merged = {"cache": self.cache, **self.params, **params}
        if self.model is not None:
            merged.setdefault("model", self.model)
        return question, history, merged

    def _add(self, question: dict[str, Any], reply: ChatReply, key: str | None,
             params: dict[str, Any]) -> None:
        index = self._index(key)
        if index is not None:
            self.branches.append(self.turns[index:])
            self.turns = self.turns[:index]
        self.turns.append(Turn(question, reply, key, params))


def _question(text: Any) -> dict[str, Any]:
    if isinstance(text, str):
        return {"role": "user", "content": text}
    if isinstance(text, Mapping) and isinstance(text.get("role"), str):
        return dict(text)
    raise InvalidRequestError(
        f"a question is text or a message dict, not {type(text).__name__}",
        hint='e.g. chat.send("What do rivers carry?")')
