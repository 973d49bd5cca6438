"""The ASGI application: reads the request, stamps its ids, asks the mount table, writes the response.

Everything below the transport lives elsewhere: which part of the server answers a path in
api/mounts.py (the prefix mount table), routing, authentication, authorization and error mapping of
Graph requests in api/handler.py (`GraphHandler.handle(request, actor)`, callable without ASGI).
Every response carries `request-id` and `client-request-id` (the client's, or the request id when it
sent none) and the headers of spec §0.3; JSON responses add `OData-Version: 4.0`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from mailgraph.api.context import Services
from mailgraph.api.errors import error_body, to_response
from mailgraph.api.guard import InjectedReset
from mailgraph.api.handler import GraphHandler, common_headers, stamp
from mailgraph.api.http import (
    JSON_TYPE,
    BodyTooLargeError,
    ClientGoneError,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    read_request,
    write_response,
)
from mailgraph.api.mounts import MountTable, standard_mounts

log = logging.getLogger("mailgraph.api")


class GraphApp:
    """ASGI entry point: Graph (`/v1.0`, `/beta`), the identity platform and the other mounts."""

    def __init__(
        self,
        services: Services,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        mounts: MountTable | None = None,
    ) -> None:
        self.services = services
        self.graph = GraphHandler(services)
        """Graph below ASGI: `await app.graph.handle(request, actor)` (a `$batch` item, a test, a UI)."""
        self.mounts = standard_mounts(self.graph) if mounts is None else mounts
        """Add `/admin`, the control namespace or a UI with `app.mounts.add(...)` (api/mounts.py)."""
        self._on_shutdown = on_shutdown
        # Set by wiring: run at lifespan start (the delivery worker).
        self.on_startup: Callable[[], Awaitable[None]] | None = None
        self.observe: Callable[[Request, int, float], None] | None = None
        """Set by wiring: told every answered request, its status and seconds taken (api/ops.py metrics)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            req = await read_request(scope, receive)
        except ClientGoneError:
            return  # nothing to answer, nothing done
        except BodyTooLargeError:
            request_id = str(uuid.uuid4())
            body = error_body(
                "RequestEntityTooLarge", "Maximum request length exceeded.", request_id, request_id
            )
            response = Response(413, body, JSON_TYPE)
            await write_response(send, response, common_headers(request_id, request_id, response))
            return
        stamp(req)
        started = time.perf_counter()
        try:
            response = await self.mounts.dispatch(req)
        except Exception as exc:  # a mount outside Graph failed (Graph's own handler never raises)
            response = to_response(exc, req.request_id, req.client_request_id)
        except InjectedReset:
            # A fault rule's connection reset: start a response and never finish it, so the server
            # closes the connection under the client (uvicorn drops an incomplete response).
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
            return
        common = common_headers(req.request_id, req.client_request_id, response)
        if response.stream is not None and response.length < 0:
            await _until_disconnect(write_response(send, response, common), receive, response)
        else:
            await write_response(send, response, common)
        if self.observe is not None:
            self.observe(req, response.status, time.perf_counter() - started)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.on_startup is not None:
                    await self.on_startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._on_shutdown is not None:
                    await self._on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _until_disconnect(writing: Coroutine[Any, Any, None], receive: Receive, response: Response) -> None:
    """Write an endless stream until it ends or the client disconnects (the server may not tell the
    writer: a send to a closed connection can be a silent no-op), then close the stream's generator."""
    writer = asyncio.ensure_future(writing)

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait((writer, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (writer, watcher):
            task.cancel()
        for task in (writer, watcher):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        closing = getattr(response.stream, "aclose", None)
        if closing is not None:
            with contextlib.suppress(Exception):
                await closing()
