"""The benchmark's framework floor: a raw ASGI app that drains the request and answers 202.

``bench/run.py`` serves it with uvicorn using the same HTTP parser and event
loop as ``mailgraph serve``; its requests/s is the ceiling any ASGI app can
reach on this machine with this load generator, so mailgraph's requests/s
divided by it shows how much of the budget the application itself spends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]

_START = {"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]}
_BODY = {"type": "http.response.body", "body": b""}


async def _nothing() -> None:
    return None


async def lifespan(
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
    startup: Callable[[], Awaitable[None]] = _nothing,
    shutdown: Callable[[], Awaitable[None]] = _nothing,
) -> None:
    """Answer the lifespan protocol until shutdown (also the other bench apps'), running `startup`
    and `shutdown` on their events."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Answer every HTTP request with 202 and an empty body; accept lifespan events."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    more = True
    while more:  # drain the body like a real app would
        message = await receive()
        more = bool(message.get("more_body", False))
    await send(dict(_START))
    await send(dict(_BODY))
