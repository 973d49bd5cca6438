"""A lean HTTP/1.1 client for notification POSTs: keep-alive connections per origin, nothing else.

Why not httpx here (it still does the validation handshake, delivery/webhook_http.py): a notification
POST is the hot path of change notifications — with 100 subscriptions one send is 100 notifications —
and httpx/httpcore spend ~0.3–0.5 ms of Python per request (request models, anyio, pool bookkeeping,
and an `import sniffio` attempt per request when sniffio is absent); this client writes one buffer and
parses one status line and its headers, ~20x less (bench/notify_cpu.py, docs/change-tracking.md).

Scope, on purpose: `POST` with a body, `http` and `https` (the `ssl.SSLContext` of the URL policy),
responses with `Content-Length`, chunked, or close-delimited bodies (read and dropped), interim 1xx
skipped. No redirects (Graph follows none), no proxies, no cookies. A connection goes back to the
pool only after a complete response that did not ask to close; a request on a *reused* connection
that the server had closed meanwhile (EOF before any byte of a response) is sent once more on a new one,
as browsers do; any other failure closes the connection. Timeouts are the caller's (`asyncio.timeout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_MAX_IDLE = 8  # idle connections kept per origin
_MAX_HEAD = 64 * 1024


class HttpError(Exception):
    """The exchange failed (connection refused or reset, malformed response)."""


class _Stale(Exception):
    """A reused connection was closed by the server before it answered."""


class PostClient:
    """POSTs bodies over pooled HTTP/1.1 connections; `post` returns the status code."""

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self._tls = tls
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        # Per URL: its origin and the request head up to the Content-Length value (a receiver gets
        # every POST of its subscriptions at one URL: parsed once, not per POST). Bounded.
        self._heads: dict[str, tuple[tuple[str, str, int], bytes]] = {}

    def _target(self, url: str, content_type: str) -> tuple[tuple[str, str, int], bytes]:
        key = f"{content_type} {url}"
        known = self._heads.get(key)
        if known is None:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            host = parts.hostname or ""
            port = parts.port or (443 if scheme == "https" else 80)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            authority = host if ":" not in host else f"[{host}]"
            if parts.port is not None:
                authority += f":{parts.port}"
            head = (
                f"POST {target} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n"
                f"User-Agent: mailgraph-notifications\r\nContent-Length: "
            ).encode("latin-1")
            if len(self._heads) >= 1024:
                self._heads.clear()
            known = self._heads[key] = ((scheme, host, port), head)
        return known

    async def post(self, url: str, body: bytes, content_type: str) -> int:
        """POST `body` to `url`. Raises HttpError (and whatever cancels it: the caller's timeout)."""
        origin, head = self._target(url, content_type)
        request = head + b"%d\r\n\r\n" % len(body)
        idle = self._idle.setdefault(origin, [])
        while idle:
            conn = idle.pop()
            try:
                return await self._exchange(origin, conn, (request, body), reused=True)
            except _Stale:
                continue  # closed while idle: the server never saw the request
        return await self._exchange(origin, await self._open(origin), (request, body), reused=False)

    async def close(self) -> None:
        """Close the idle connections."""
        pools, self._idle = self._idle, {}
        for conns in pools.values():
            for _, writer in conns:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _open(self, origin: tuple[str, str, int]) -> _Conn:
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            tls = self._tls if self._tls is not None else ssl.create_default_context()
        try:
            return await asyncio.open_connection(host, port, ssl=tls, server_hostname=host if tls else None)
        except (OSError, ssl.SSLError) as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    async def _exchange(
        self, origin: tuple[str, str, int], conn: _Conn, request: tuple[bytes, bytes], reused: bool
    ) -> int:
        reader, writer = conn
        keep = False
        try:
            writer.writelines(request)  # head, then body: no copy of the body into one buffer
            status, keep = await _response(reader, reused)
        except _Stale:
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if keep:
                pool = self._idle.setdefault(origin, [])
                if len(pool) < _MAX_IDLE:
                    pool.append(conn)
                else:
                    writer.close()
            else:
                writer.close()  # also on cancellation (timeout): a half-read connection is not reused
        return status


async def _response(reader: asyncio.StreamReader, reused: bool) -> tuple[int, bool]:
    """Read one final response; returns (status, whether the connection can be reused)."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if reused and not exc.partial:
                raise _Stale() from exc
            raise
        if len(head) > _MAX_HEAD:
            raise ValueError("response head too large")
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status = int(rest[:3])
        if not version.startswith("HTTP/1."):
            raise ValueError(f"not an HTTP/1.x response: {lines[0][:40]!r}")
        if 100 <= status < 200:
            continue  # interim response (100 Continue, 103 Early Hints): the final one follows
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip().lower()
        keep = version == "HTTP/1.1" and "close" not in headers.get("connection", "")
        if status in (204, 304):
            return status, keep
        if "chunked" in headers.get("transfer-encoding", ""):
            await _chunked(reader)
        elif "content-length" in headers:
            await reader.readexactly(int(headers["content-length"]))
        else:
            await reader.read()  # delimited by close
            keep = False
        return status, keep


async def _chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return
        await reader.readexactly(size + 2)
