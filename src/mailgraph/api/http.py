"""Minimal request/response types over raw ASGI.

Why raw ASGI and not Starlette: on POST routes raw ASGI on uvicorn measured 1.3–1.75× Starlette's
throughput on this machine (docs/architecture.md), and Graph's path grammar (case-insensitive segment
names, `name('key')` keys, percent-encoded ids) needs a router of its own anyway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 4 * 1024 * 1024  # spec §6: requests above ~4 MB get 413 "Maximum request length exceeded."
# Upload-session chunks (spec §2.12: "≤ 4 MB recommended"); msgraph-core's LargeFileUploadTask sends
# 5 MiB (+1 byte) chunks by default, so the upload path allows 8 MiB: still bounded per request.
UPLOAD_PATH = b"/upload/"
MAX_UPLOAD_BODY = 8 * 1024 * 1024

JSON_TYPE = (
    b"application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)


class BodyTooLargeError(Exception):
    """The request body exceeds MAX_BODY."""


class ClientGoneError(Exception):
    """The client disconnected before its body was complete: there is no request to answer."""


@dataclass(slots=True)
class Request:
    """One HTTP request, headers lower-cased, body fully read."""

    method: str
    raw_path: bytes
    query: str
    headers: dict[str, str]
    body: bytes
    scheme: str
    server: str
    request_id: str = ""
    client_request_id: str = ""
    route: str = ""
    """The route pattern that answered (metrics label): a Graph route's pattern, else the mount's name."""

    @property
    def base_url(self) -> str:
        """`scheme://host[:port]` as the client called it (X-Forwarded-* honoured, client-wire fact 6)."""
        proto = self.headers.get("x-forwarded-proto", "").split(",")[0].strip() or self.scheme
        host = self.headers.get("x-forwarded-host", "").split(",")[0].strip() or self.headers.get(
            "host", self.server
        )
        return f"{proto}://{host}"

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(slots=True)
class Response:
    """One HTTP response."""

    status: int
    body: bytes = b""
    content_type: bytes | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None
    """A body sent in pieces instead of `body` (large attachments); `length` is its exact size, or -1
    for an endless stream (events), which the ASGI app ends when the client goes away."""
    length: int = 0


async def read_request(scope: Scope, receive: Receive) -> Request:
    """Read the whole request. Raises BodyTooLargeError past MAX_BODY (checked on Content-Length first)."""
    headers: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    declared = headers.get("content-length", "")
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    limit = MAX_UPLOAD_BODY if raw_path.startswith(UPLOAD_PATH) else MAX_BODY
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            # A cut body (client gone, or the body deadline of cli/http_limits.py) must not be handled
            # as if complete: a truncated form or JSON could still parse and be acted upon.
            raise ClientGoneError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
        more = message.get("more_body", False)
    server = scope.get("server") or ("localhost", None)
    host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
    return Request(
        method=scope["method"],
        raw_path=raw_path,
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=b"".join(chunks),
        scheme=scope.get("scheme", "http"),
        server=host,
    )


async def write_response(send: Send, response: Response, common: list[tuple[bytes, bytes]]) -> None:
    """Send status, headers and body. No Content-Type is sent when `content_type` is None."""
    headers = [*common, *response.headers]
    if response.content_type is not None:
        headers.append((b"content-type", response.content_type))
    length = response.length if response.stream is not None else len(response.body)
    if length >= 0:  # -1: a stream of unknown length (Server-Sent Events), sent chunked
        headers.append((b"content-length", str(length).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if response.stream is None:
        await send({"type": "http.response.body", "body": response.body})
        return
    async for piece in response.stream:  # bounded memory: one piece at a time
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
