"""The server's own sockets: a kept-alive connection must not stall on Nagle's algorithm."""

from __future__ import annotations

import socket

import httpx
import pytest

from rp_jupyter.local import LocalEndpoint


@pytest.mark.parametrize("loop", ["asyncio", "auto"])
def test_accepted_connections_have_nagle_turned_off(loop):
    """asyncio sets TCP_NODELAY only on sockets whose protocol is TCP; without it every
    request after the first on one connection waits ~40 ms for a delayed ACK."""
    with LocalEndpoint("echo", workers=0, loop=loop) as server, httpx.Client() as http:
        assert http.get(f"{server.url}/health").status_code == 200  # the connection stays open
        connections = list(server.server._uvicorn.server_state.connections)
        assert connections, "the kept-alive connection should be open on the server"
        for protocol in connections:
            sock = protocol.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
