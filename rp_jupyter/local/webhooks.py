"""Webhook delivery: POST the final status document, retrying like the hosted API.

The hosted API tries once and then ``webhook_retries`` more times, ``webhook_retry_delay``
seconds apart, until the receiver answers 2xx.  Every attempt is logged on the job.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rp_jupyter.local.endpoint_settings import EndpointSettings
from rp_jupyter.local.server_job import ServerJob


class WebhookSender:
    """One shared HTTP client for every webhook of a server."""

    def __init__(self) -> None:
        self._client: Any = None
        self._tasks: set[asyncio.Task] = set()

    def send(self, job: ServerJob, settings: EndpointSettings) -> None:
        """Start delivering ``job``'s final document in the background."""
        if not job.webhook:
            return
        task = asyncio.get_running_loop().create_task(
            self._deliver(job, job.webhook, job.document(), settings))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, job: ServerJob, url: str, document: dict[str, Any],
                       settings: EndpointSettings) -> None:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        attempts = 1 + max(0, int(settings.webhook_retries))
        for attempt in range(1, attempts + 1):
            entry: dict[str, Any] = {"t": time.time(), "attempt": attempt}
            try:
                response = await self._client.post(url, json=document,
                                                   timeout=settings.webhook_timeout)
                entry["status_code"] = response.status_code
                ok = 200 <= response.status_code < 300
            except Exception as err:  # any transport failure counts as a failed try
                entry["error"] = f"{type(err).__name__}: {err}"
                ok = False
            job.webhook_log.append(entry)
            if ok:
                return
            if attempt < attempts:
                await asyncio.sleep(settings.webhook_retry_delay)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
