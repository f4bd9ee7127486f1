"""``/status`` of a job not yet final waits a few milliseconds for it to finish."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rp_jupyter.local.app import LocalApp
from rp_jupyter.local.endpoint_settings import EndpointSettings
from rp_jupyter.local.handler_spec import HandlerSpec
from rp_jupyter.local.server_endpoint import ServerEndpoint
from rp_jupyter.local.validation import parse_job_request


async def _status_while(finish: bool) -> dict[str, Any]:
    """Ask for the status of a job a worker holds; with ``finish`` the worker's result
    arrives while the request waits.  The app is called in-process, as a server would."""
    app = LocalApp()
    endpoint = ServerEndpoint("e", HandlerSpec.of("echo"),
                              EndpointSettings(workers=0, rate_limits="off"), app.webhooks)
    app.endpoints["e"] = endpoint
    endpoint.start(("127.0.0.1", 9))  # no worker processes: workers=0
    job = endpoint.submit(parse_job_request(b'{"input": {}}', endpoint.settings), sync=False)
    assert endpoint.queue.take_nowait("w1") is job  # a worker has taken it
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": f"/v2/e/status/{job.id}",
             "query_string": b"", "headers": []}
    request = asyncio.create_task(app(scope, receive, send))
    while endpoint.stats.in_flight("status") == 0 and not request.done():
        await asyncio.sleep(0)
    if finish:
        endpoint.job_done("w1", job.id, {"output": {"ok": True}})
    await request
    await endpoint.close()
    return json.loads(sent[-1]["body"])


def test_a_result_arriving_while_the_status_request_waits_is_the_answer():
    doc = asyncio.run(_status_while(finish=True))
    assert doc["status"] == "COMPLETED" and doc["output"] == {"ok": True}


def test_a_job_still_running_after_the_wait_is_answered_as_running():
    doc = asyncio.run(_status_while(finish=False))
    assert doc["status"] == "IN_PROGRESS" and "output" not in doc
