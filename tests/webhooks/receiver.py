"""A webhook receiver on 127.0.0.1 for the change-notification tests: a raw ASGI app served by uvicorn.

It answers the validation handshake (echoing the URL-decoded `validationToken` as text/plain), records
every notification batch, and can be told to fail (`status`), to answer slowly (`delay_s`; with `drop_when_slow` such a late
answer does not count as received, as the publisher timed out), or be
stopped and started again on the same port (the receiver-down test).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
import uvicorn


@dataclass
class Post:
    """One notification POST as received."""

    path: str
    body: dict[str, Any]
    at: float


@dataclass
class Receiver:
    """Records what Graph-style publishers POST to it."""

    status: int = 202
    delay_s: float = 0.0
    drop_when_slow: bool = False  # a delayed answer is not recorded: the publisher gave up (its timeout)
    validation: str = "echo"  # echo | wrong | status500 | slow
    validations: list[str] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def items(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every notification item received (on `path` when given), in arrival order."""
        return [i for p in self.posts if path is None or p.path == path for i in p.body["value"]]

    async def wait_for(self, predicate: Any, within: float = 5.0) -> list[dict[str, Any]]:
        """Wait until `predicate(items)` holds; returns the items."""
        deadline = time.monotonic() + within
        while not predicate(self.items()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; received {self.items()}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.2))
        return self.items()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = parse_qs(scope["query_string"].decode("latin-1"))
        if "validationToken" in query:
            token = query["validationToken"][0]
            self.validations.append(token)
            if self.validation == "slow":
                await asyncio.sleep(12)
            answer = {"echo": token, "wrong": token + "x"}.get(self.validation, token)
            status = 500 if self.validation == "status500" else 200
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
            await send({"type": "http.response.body", "body": answer.encode()})
            return
        slow = self.delay_s
        if slow:
            await asyncio.sleep(slow)
        if 200 <= self.status < 300 and not (slow and self.drop_when_slow):
            self.posts.append(Post(scope["path"], orjson.loads(body), time.monotonic()))
            self._arrived.set()
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port the first time, the same port after a stop)."""
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)
            if self._task.done():
                self._task.result()
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening (connections are refused until `start`)."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None
