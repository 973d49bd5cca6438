"""The keep-alive race behind the soak's three `httpx.ReadError`s (issue 17, docs/reliability.md).

A pooled connection is reused for a POST just before the server's keep-alive deadline. On a busy
server the event loop runs its due timers before it polls the sockets, so the keep-alive timer fires
while the request already sits unread in the socket; uvicorn's handler closed the connection, the
kernel reset it (unread data), and the client could not know whether its POST had been handled.

Here the ordering is made exact: uvicorn with the server's HTTP protocol (cli/http_limits.py) runs in
this event loop, the client writes the request (on loopback it is in the server's socket when
`write` returns) and, in the same loop callback, the connection's keep-alive timer fires — as it
does when the loop was busy past the deadline. The request must be answered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from mailgraph.cli.http_limits import limited_protocol

REQUEST = b"POST /sendMail HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0]


async def _race(fire: str) -> bytes:
    config = uvicorn.Config(
        _app, host="127.0.0.1", port=0, lifespan="off", log_level="warning",
        http=limited_protocol(10.0, 60.0, 64 * 1024), timeout_keep_alive=5,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):  # bounded
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(200):  # bounded: the server accepts it
            if server.server_state.connections:
                break
            await asyncio.sleep(0.01)
        (protocol,) = server.server_state.connections
        if fire == "keep-alive":
            writer.write(REQUEST)
            assert await _response(reader) == b"HTTP/1.1 202 Accepted"  # the connection is now idle
        writer.write(REQUEST)  # the (pooled) connection is used; the request is in the server's socket
        if fire == "keep-alive":  # the keep-alive deadline passed while the loop was busy
            protocol.timeout_keep_alive_handler()  # type: ignore[attr-defined]
        else:  # the head deadline of a new connection (--http-head-timeout): the same race
            protocol._expired()  # type: ignore[attr-defined]
        try:
            return await asyncio.wait_for(_response(reader), 5)
        except (asyncio.IncompleteReadError, ConnectionResetError) as e:
            return f"connection closed under the request: {type(e).__name__}".encode()
        finally:
            writer.close()
    finally:
        server.should_exit = True
        await task


def test_a_request_in_the_socket_when_the_keep_alive_timer_fires_is_answered() -> None:
    assert asyncio.run(_race("keep-alive")) == b"HTTP/1.1 202 Accepted"


def test_a_request_in_the_socket_when_the_head_deadline_fires_is_answered() -> None:
    assert asyncio.run(_race("head")) == b"HTTP/1.1 202 Accepted"
