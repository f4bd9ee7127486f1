"""What following has learnt about one endpoint's server, and how it shares its limits.

Does the server long-poll ``/stream?wait=`` (learnt from the first quiet answers), can a
job stream at all, does ``/status-sync`` wait, has it an OpenAI route?  And the shares
following takes of the rate limits: how many long-polls may be held at once, how long a
busy stream pauses between calls.  One per endpoint runtime, engine thread only.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from rp_jupyter.jobs.tracking_policy import (
    LONG_POLL_EARLY,
    LONG_POLL_MISSES,
    LONG_POLL_SLOTS,
    STREAM_PAUSE,
    STREAM_RATE_SHARE,
)

if TYPE_CHECKING:
    from rp_jupyter.api.client import EndpointClient

__all__ = ["ServerTraits"]

log = logging.getLogger("rp_jupyter.jobs")


class ServerTraits:
    """See the module docstring.

    Example::

        traits = ServerTraits(client)
        if traits.take_long_poll_slot():
            ...  # /stream?wait=..., then traits.release_long_poll_slot()
    """

    def __init__(self, client: EndpointClient) -> None:
        self.client = client
        self.stream_supported = True
        self.status_sync_supported = True
        self.long_poll: bool | None = None  # None until the server has shown which
        # False once a 404 showed the server has no OpenAI route: chats go to /run then
        self.openai_route: bool | None = None
        self._long_poll_misses = 0
        self._long_poll_free = LONG_POLL_SLOTS
        self._streaming: dict[str, float] = {}  # job id -> when it last brought chunks

    def take_long_poll_slot(self) -> bool:
        if self.long_poll is False or self._long_poll_free <= 0:
            return False
        self._long_poll_free -= 1
        return True

    def release_long_poll_slot(self) -> None:
        self._long_poll_free += 1

    def observe_long_poll(self, elapsed: float, eventful: bool) -> None:
        """Learn whether the server honours ``?wait=`` from how long quiet answers took."""
        if eventful:
            return
        if elapsed >= LONG_POLL_EARLY:
            self.long_poll, self._long_poll_misses = True, 0
        elif self.long_poll is None:
            self._long_poll_misses += 1
            if self._long_poll_misses >= LONG_POLL_MISSES:
                self.long_poll = False
                log.info("%s does not long-poll /stream; polling instead", self.client.url)

    def note_chunks(self, job_id: str) -> None:
        """``job_id``'s stream just brought chunks (it counts as busy for a second)."""
        self._streaming[job_id] = time.monotonic()

    def last_chunks_at(self, job_id: str) -> float | None:
        """When (``time.monotonic()``) the job's stream last brought chunks, if lately."""
        return self._streaming.get(job_id)

    def stream_pause(self) -> float:
        """Seconds a busy stream waits between ``/stream`` calls (see STREAM_PAUSE)."""
        now = time.monotonic()
        for job_id, last in list(self._streaming.items()):
            if now - last > 1.0:
                del self._streaming[job_id]
        limit = self.client.limiters["stream"].limit
        budget = STREAM_RATE_SHARE * limit.requests / limit.per_seconds
        return max(STREAM_PAUSE, len(self._streaming) / budget)
