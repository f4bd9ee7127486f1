"""The channel between the local server and the workers it starts: jobs and results go
through a socket pair, not through an HTTP request per job."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path

from rp_jupyter.local.channel_frames import READY, frame, split_frames
from rp_jupyter.local.endpoint_settings import EndpointSettings
from rp_jupyter.local.handler_spec import HandlerSpec
from rp_jupyter.local.server_endpoint import ServerEndpoint
from rp_jupyter.local.validation import parse_job_request
from rp_jupyter.local.webhooks import WebhookSender
from rp_jupyter.local.worker_channel import UNREADABLE_RESULT
from tests.local.conftest import submit, wait_status


def tcp_peers_of(pid: int) -> set[int]:
    """The remote ports of the TCP connections process ``pid`` holds open (Linux's /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


def test_the_servers_own_worker_holds_no_http_connection_while_it_runs_jobs(
        start_endpoint, client):
    ep = start_endpoint("echo", workers=1, rate_limits="off")
    for i in range(20):
        doc = client.post(f"{ep.url}/runsync", json={"input": {"i": i}}).json()
        assert doc["status"] == "COMPLETED" and doc["output"] == {"echo": {"i": i}}
    [worker] = ep.workers()
    assert worker["state"] == "idle"
    # an HTTP worker would hold a kept-alive connection for its job-take long-poll
    assert ep.server.port not in tcp_peers_of(worker["pid"])


def test_a_large_input_and_output_cross_the_channel_whole(start_endpoint, client):
    ep = start_endpoint("echo", workers=1, rate_limits="off")
    text = "".join(chr(0x41 + i % 26) + "é\n" for i in range(2_000_000))  # about 8 MB
    doc = client.post(f"{ep.url}/runsync", json={"input": {"text": text}}, timeout=60).json()
    assert doc["status"] == "COMPLETED"
    assert doc["output"]["echo"]["text"] == text


def test_two_workers_take_turns_and_every_job_runs_once(start_endpoint, client):
    ep = start_endpoint("echo", workers=2, rate_limits="off")
    ids = [submit(client, ep, {"n": n}) for n in range(60)]
    docs = [wait_status(client, ep, job_id, "COMPLETED") for job_id in ids]
    assert [d["output"] for d in docs] == [{"echo": {"n": n}} for n in range(60)]
    assert len({d["workerId"] for d in docs}) == 2
    assert ep.health()["jobs"]["completed"] == 60


def test_a_result_the_server_cannot_read_fails_the_job_and_the_worker_goes_on():
    """The worker's end of the channel is played here, frame by frame."""

    async def scenario() -> tuple[dict, dict, list[str]]:
        endpoint = ServerEndpoint("e", HandlerSpec.of("echo"), EndpointSettings(workers=0),
                                  WebhookSender())
        endpoint.start(("127.0.0.1", 9))  # no worker processes: workers=0
        server_end, worker_end = socket.socketpair()
        channel = endpoint.pool._open_channel("w1", server_end)
        channel.start()
        reader, writer = await asyncio.open_unix_connection(sock=worker_end)
        buffer = bytearray()

        async def next_job() -> dict:
            while not (frames := split_frames(buffer)):
                buffer.extend(await reader.read(65536))
            return json.loads(frames[0])

        writer.write(frame(READY))
        request = parse_job_request(b'{"input": {"a": 1}}', endpoint.settings)
        first = endpoint.submit(request, sync=False)
        assert (await next_job())["id"] == first.id
        writer.write(frame(b"not json"))
        second = endpoint.submit(request, sync=False)
        taken = await next_job()
        writer.write(frame(json.dumps({"id": taken["id"],
                                       "result": {"output": {"ok": True}}}).encode()))
        while not second.final:
            await second.changed.wait()
        statuses = [first.status, second.status]
        channel.close()
        writer.close()
        await endpoint.close()
        return first.document(), second.document(), statuses

    first, second, statuses = asyncio.run(scenario())
    assert statuses == ["FAILED", "COMPLETED"]
    assert first["error"] == UNREADABLE_RESULT
    assert second["output"] == {"ok": True}


def test_a_job_its_worker_returns_within_the_millisecond_still_reports_its_time(
        start_endpoint, client):
    ep = start_endpoint("echo", workers=1, rate_limits="off")
    docs = [client.post(f"{ep.url}/runsync", json={"input": {"i": i}}).json()
            for i in range(20)]
    assert all(d["status"] == "COMPLETED" and d["executionTime"] >= 1 for d in docs)
